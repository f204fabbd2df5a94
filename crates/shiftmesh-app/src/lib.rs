//! The application layer: every operation shiftmesh offers, as a typed [`Request`] run against
//! a schedule ([`Context`]) for a [`Caller`], giving a typed [`Reply`] or a typed [`AppError`].
//! Each front end only translates: the CLI parses its command line into a request and renders
//! the reply as text or JSON; a running node runs the requests its control socket and its HTTP
//! API receive. Nothing here prints, parses a command line or opens a socket.

mod accounts;
pub mod backups;
mod caller;
pub mod config;
mod conflicts;
mod context;
mod csv;
pub mod doctor;
mod entities;
mod error;
mod history;
mod ics;
mod init;
mod invite;
mod peers;
mod plan;
mod reply;
mod request;
pub mod session;
mod status;
mod text;
mod transfer;
mod undo;
mod views;

use shiftmesh_model::{Collection, LocalSpan};

pub use accounts::{hash_password, sign_in, PASSWORD_MIN_CHARS};
pub use caller::{authorize, Access, Caller};
pub use conflicts::{evaluate, prove_values};
pub use context::{Context, Db, NodeLink, Progress, Reader};
pub use csv::{check_csv, hours, parse_hours};
pub use error::{AppError, Category, Result};
pub use history::{
    RecordLimit, HISTORY_RECORD_INLINE_CHANGES_MAX, NODE_RECORD_LIMIT, ONE_OFF_RECORD_LIMIT,
};
pub use init::{host_name, init, Initialised, Setup};
pub use invite::{Invite, INVITE_PREFIX};
pub use peers::{parse_peer_id, MAX_INVITE_MINUTES, PEER_PREFIX_MIN_CHARS};
pub use plan::{CopySpec, RepeatSpec, COPY_MAX_SHIFTS};
pub use reply::*;
pub use request::{
    ConflictFilter, ExportFormat, Period, Request, ShiftFields, Source, StaffFields,
};
pub use session::Session;
pub use status::{EntityCounts, PeerStatus, Status, StatusReport};
pub use transfer::restore;
pub use undo::CHANGE_PREFIX_MIN_CHARS;
pub use views::shift_view;

/// Runs one request for the context's caller: checks they may, then does it.
pub fn execute(ctx: &mut Context, request: Request) -> Result<Reply> {
    check_account(ctx, &request)?;
    // Only a staff account's request needs the schedule to be authorised (whose entry is it?).
    let needs_view = matches!(ctx.caller.access, Access::Staff { .. });
    if needs_view {
        let caller = ctx.caller.clone();
        let r = ctx.db.read()?;
        authorize(&request, &caller, Some(r.view()))?;
    } else {
        authorize(&request, &ctx.caller, None)?;
    }
    match request {
        Request::Status => views::status(ctx),
        Request::Peers => views::peers(ctx),
        Request::PeerTrust { peer_id, name } => peers::trust(ctx, &peer_id, name),
        Request::PeerRevoke { peer_id } => peers::revoke(ctx, &peer_id),
        Request::PeerForget { peer_id } => peers::forget(ctx, &peer_id),
        Request::Invite { expires_minutes } => peers::invite(ctx, expires_minutes),
        Request::DepartmentAdd {
            id,
            name,
            time_zone,
        } => entities::department_add(ctx, id, name, time_zone),
        Request::DepartmentList => entities::department_list(ctx),
        Request::DepartmentUpdate {
            id,
            name,
            time_zone,
        } => entities::department_update(ctx, id, name, time_zone),
        Request::DepartmentRemove { id } => entities::department_remove(ctx, id),
        Request::StaffAdd { id, fields } => entities::staff_add(ctx, id, fields),
        Request::StaffList => views::staff_list(ctx),
        Request::StaffShow { id } => views::staff_show(ctx, &id),
        Request::StaffUpdate { id, fields } => entities::staff_update(ctx, id, fields),
        Request::StaffRemove { id, force } => {
            entities::remove(ctx, Collection::Staff, id, force)
        }
        Request::ShiftAdd { id, fields } => entities::shift_add(ctx, id, fields),
        Request::ShiftList {
            from,
            to,
            department,
        } => views::shift_list(ctx, from, to, department),
        Request::ShiftShow { id } => views::shift_show(ctx, &id),
        Request::ShiftUpdate { id, fields } => entities::shift_update(ctx, id, fields),
        Request::ShiftRemove { id, force } => {
            entities::remove(ctx, Collection::Shifts, id, force)
        }
        Request::Assign {
            staff,
            shift,
            role,
            note,
            check,
        } => entities::assign(ctx, staff, shift, role, note, check),
        Request::Unassign { staff, shift } => entities::unassign(ctx, staff, shift),
        Request::AvailabilityAdd {
            staff,
            from,
            to,
            kind,
            reason,
        } => {
            let span = LocalSpan::new(from, to).map_err(|e| AppError::Usage(e.message))?;
            entities::availability_add(ctx, staff, span, kind, reason)
        }
        Request::AvailabilityList { staff } => entities::availability_list(ctx, staff),
        Request::AvailabilityRemove { id } => entities::availability_remove(ctx, id),
        Request::Schedule {
            period,
            department,
            staff,
        } => views::schedule(ctx, period, department, staff),
        Request::ShiftCopy(spec) => plan::copy(ctx, spec),
        Request::ShiftRepeat(spec) => plan::repeat(ctx, spec),
        Request::Revert { change } => undo::revert(ctx, &change),
        Request::RevertLastMerge => undo::revert_last_merge(ctx),
        Request::RevertAfterRevocation { machine } => {
            undo::revert_after_revocation(ctx, &machine)
        }
        Request::Now { department } => views::on_duty(ctx, department),
        Request::Cover { shift } => views::cover(ctx, &shift),
        Request::Conflicts(filter) => conflicts::list(ctx, &filter),
        Request::ConflictShow { id } => conflicts::show(ctx, &id),
        Request::Resolve {
            id,
            option,
            staff,
            value,
        } => conflicts::resolve(ctx, &id, option, staff, value),
        Request::Ack { id, note } => conflicts::ack(ctx, &id, note),
        Request::History { limit, filter } => views::history(ctx, limit, &filter),
        Request::Import { files } => transfer::import(ctx, files),
        Request::Export {
            format,
            staff,
            department,
            out,
        } => transfer::export(ctx, format, staff, department, out),
        Request::Backup { file } => transfer::backup(ctx, file),
        Request::BackupList => backups::list_configured(ctx),
        Request::Doctor => doctor::doctor(ctx),
        Request::Restore { .. } => match ctx.db {
            Db::Live { .. } => Err(AppError::Refused(
                "restore replaces the whole store, which the running node holds; stop the node (Ctrl-C), run the restore, then start the node again".into(),
            )),
            Db::Offline { .. } => Err(AppError::Refused(
                "restore runs before the store is opened; use shiftmesh_app::restore".into(),
            )),
        },
        Request::Merge { source } => transfer::merge(ctx, source),
        Request::AccountAdd {
            login,
            name,
            role,
            staff,
            password,
        } => accounts::add(ctx, login, name, role, staff, password),
        Request::AccountList => accounts::list(ctx),
        Request::AccountPasswd { login, password } => accounts::passwd(ctx, login, password),
        Request::AccountDisable { login } => accounts::disable(ctx, login),
        Request::SignIn { login, password } => {
            let r = ctx.db.read()?;
            let account = accounts::sign_in(r.view().index(), &login, &password)?;
            Ok(Reply::SignedIn(AccountView::of(&account, "")))
        }
    }
}

/// A signed-in account's request runs only while the account still stands as it did at
/// sign-in: not disabled, not removed, the same role (a change made on any machine of the site
/// takes effect at once).
fn check_account(ctx: &mut Context, request: &Request) -> Result<()> {
    if matches!(request, Request::SignIn { .. }) {
        return Ok(());
    }
    let expected = match &ctx.caller.access {
        Access::Owner => return Ok(()),
        Access::Manager => (shiftmesh_model::Role::Manager, None),
        Access::Staff { staff } => (shiftmesh_model::Role::Staff, staff.clone()),
    };
    let name = ctx.caller.name.clone();
    let r = ctx.db.read()?;
    let stands = shiftmesh_model::Id::parse(&name)
        .ok()
        .and_then(|login| r.view().index().accounts.get(&login))
        .is_some_and(|a| !a.disabled && a.role == expected.0 && a.staff == expected.1);
    if stands {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "the account {name} was disabled or changed since it signed in; sign in again"
        )))
    }
}
