//! Sign-in accounts, kept in the replicated document so a person signs in on any machine of the
//! site: adding them, setting passwords (argon2id hashes, never the password), disabling them,
//! and checking a password at sign-in.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use shiftmesh_model::{Account, Collection, Id, Index, Role};

use crate::conflicts::{changed, write};
use crate::context::Context;
use crate::reply::{AccountView, Reply};
use crate::session::now_ms;
use crate::{AppError, Result};

/// The shortest password accepted, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// The longest password accepted, in bytes (hashing cost grows with it).
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// An argon2id hash of a password, in PHC form.
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(AppError::Usage(format!(
            "a password needs at least {PASSWORD_MIN_CHARS} characters"
        )));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(AppError::Usage(format!(
            "a password may be at most {PASSWORD_MAX_BYTES} bytes long"
        )));
    }
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| AppError::Refused(format!("cannot make a salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::Refused(format!("cannot hash the password: {e}")))
}

/// Whether `password` is the one `hash` was made from.
fn password_matches(hash: &str, password: &str) -> bool {
    if hash.is_empty() || password.len() > PASSWORD_MAX_BYTES {
        return false;
    }
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The account a login and password sign in to; the same refusal whatever is wrong, so that
/// it does not tell which logins exist.
pub fn sign_in(index: &Index, login: &str, password: &str) -> Result<Account> {
    let refused = || AppError::Forbidden("the login or the password is wrong".into());
    let id = Id::parse(login).map_err(|_| refused())?;
    let account = index.accounts.get(&id).ok_or_else(refused)?;
    if !password_matches(&account.password_hash, password) {
        return Err(refused());
    }
    if account.disabled {
        return Err(AppError::Forbidden(format!(
            "the account {login} is disabled; ask a manager or the machine's owner"
        )));
    }
    Ok(account.clone())
}

pub fn add(
    ctx: &mut Context,
    login: Id,
    name: Option<String>,
    role: Role,
    staff: Option<Id>,
    password: Option<String>,
) -> Result<Reply> {
    let password_hash = match password {
        Some(p) => hash_password(&p)?,
        None => String::new(),
    };
    let edit = ctx.edit()?;
    let account = Account {
        name: name.unwrap_or_else(|| login.to_string()),
        login: login.clone(),
        role,
        staff,
        password_hash,
        disabled: false,
        created_by: edit.author.clone(),
        created_at_ms: now_ms(),
    };
    account.check().map_err(|e| AppError::Usage(e.message))?;
    let (_, _, caused) = write(ctx, |s, edit| {
        if let Some(staff) = &account.staff {
            s.schedule.require(Collection::Staff, staff.as_str())?;
        }
        let message = format!("add account {login} ({})", role.as_str());
        let written = s.schedule.add(edit, &account, message)?;
        Ok(((), written))
    })?;
    let view = AccountView::of(
        &account,
        format!("added account {login} ({})", role.as_str()),
    );
    Ok(changed(view.clone(), view.message, caused))
}

pub fn list(ctx: &mut Context) -> Result<Reply> {
    let r = ctx.db.read()?;
    Ok(Reply::Accounts(
        r.view()
            .index()
            .accounts
            .values()
            .map(|a| AccountView::of(a, ""))
            .collect(),
    ))
}

fn existing(ctx: &mut Context, login: &Id) -> Result<Account> {
    let s = ctx.db.open()?;
    s.schedule.require(Collection::Accounts, login.as_str())?;
    Ok(s.schedule.index().accounts[login].clone())
}

pub fn passwd(ctx: &mut Context, login: Id, password: String) -> Result<Reply> {
    let mut account = existing(ctx, &login)?;
    account.password_hash = hash_password(&password)?;
    let message = format!("set the password of account {login}");
    let (_, _, caused) = write(ctx, |s, edit| {
        let written = s
            .schedule
            .update(edit, &account, &["password"], message.clone())?;
        Ok(((), written))
    })?;
    Ok(changed(AccountView::of(&account, ""), message, caused))
}

pub fn disable(ctx: &mut Context, login: Id) -> Result<Reply> {
    let mut account = existing(ctx, &login)?;
    if account.disabled {
        return Err(AppError::Refused(format!(
            "the account {login} is already disabled"
        )));
    }
    account.disabled = true;
    let message = format!("disable account {login}");
    let (_, _, caused) = write(ctx, |s, edit| {
        let written = s
            .schedule
            .update(edit, &account, &["disabled"], message.clone())?;
        Ok(((), written))
    })?;
    Ok(changed(AccountView::of(&account, ""), message, caused))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_hash_checks_the_password_it_was_made_from_and_no_other() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches(&hash, "correct horse"));
        assert!(!password_matches(&hash, "correct horsE"));
        assert!(!password_matches("", "anything"));
        assert!(matches!(hash_password("short"), Err(AppError::Usage(_))));
    }
}
