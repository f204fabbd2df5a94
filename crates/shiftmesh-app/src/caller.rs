//! Who is asking, and what they may do. Every request passes [`authorize`] before it runs,
//! whichever front end it came through.

use serde::{Deserialize, Serialize};
use shiftmesh_model::{Id, Role, View};

use crate::request::{Request, Source};
use crate::{AppError, Result};

/// What a caller may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "access", rename_all = "lowercase")]
pub enum Access {
    /// The owner of the data directory (the CLI, or the page opened with `shiftmesh ui`'s
    /// link): everything, the machine's files and the site's membership included.
    Owner,
    /// A manager account: every schedule operation.
    Manager,
    /// A staff account: reads the schedule, changes only its own availability and leave.
    Staff { staff: Option<Id> },
}

impl Access {
    pub fn of_role(role: Role, staff: Option<Id>) -> Access {
        match role {
            Role::Manager => Access::Manager,
            Role::Staff => Access::Staff { staff },
        }
    }
}

/// Who is asking: the name recorded as the author of their changes (`name@node`), and what
/// they may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub name: String,
    pub access: Access,
    /// The account the caller was proven to be, when `name` is only what they said: the OS
    /// user behind the control socket (or running the command) while `name` came from `--as`
    /// or `SHIFTMESH_USER`. None where `name` is itself proven (an account signed in over
    /// HTTP). Set by the side that checked it, never taken from the other end of a socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl Caller {
    pub fn owner(name: impl Into<String>) -> Caller {
        Caller {
            name: name.into(),
            access: Access::Owner,
            account: None,
        }
    }

    /// The author recorded for this caller's changes on `machine`: `name@machine`, or
    /// `name via account@machine` when the name given is not the account that was proven.
    pub fn author(&self, machine: &str) -> String {
        match &self.account {
            Some(account) if *account != self.name => {
                format!("{} via {account}@{machine}", self.name)
            }
            _ => format!("{}@{machine}", self.name),
        }
    }
}

/// Whether `caller` may make `request`; the error says why not.
pub fn authorize(request: &Request, caller: &Caller, view: Option<&View>) -> Result<()> {
    let owner_only = || {
        Err(AppError::Forbidden(format!(
            "{} is for the owner of this machine (its command line, or the page opened with 'shiftmesh ui')",
            request.describe()
        )))
    };
    let managers_only = || {
        Err(AppError::Forbidden(format!(
            "{} needs a manager account",
            request.describe()
        )))
    };
    // Files on this machine are reached only by its owner, whatever the role.
    if request.names_a_path() && caller.access != Access::Owner {
        return owner_only();
    }
    match (&caller.access, request) {
        (Access::Owner, _) => Ok(()),
        (_, r) if r.owner_only() => owner_only(),
        (_, r) if r.is_read() => Ok(()),
        (Access::Manager, _) => Ok(()),
        (Access::Staff { staff }, Request::AvailabilityAdd { staff: whose, .. }) => {
            own(staff.as_ref(), whose, "availability and leave")
        }
        (Access::Staff { staff }, Request::AvailabilityRemove { id }) => {
            let whose = view
                .and_then(|v| v.index().availability.get(id))
                .map(|entry| entry.staff.clone())
                .ok_or_else(|| AppError::NotFound(format!("availability '{id}' does not exist")))?;
            own(staff.as_ref(), &whose, "availability and leave")
        }
        (Access::Staff { .. }, _) => managers_only(),
    }
}

fn own(mine: Option<&Id>, whose: &Id, what: &str) -> Result<()> {
    match mine {
        Some(me) if me == whose => Ok(()),
        Some(me) => Err(AppError::Forbidden(format!(
            "a staff account changes only its own {what}: this one is {me}'s, not {whose}'s"
        ))),
        None => Err(AppError::Forbidden(format!(
            "this staff account is linked to no staff member, so it may change no {what}"
        ))),
    }
}

impl Request {
    /// Whether the request reaches a file on this machine (an import or merge from a path, an
    /// export or backup to one).
    fn names_a_path(&self) -> bool {
        let source = |s: &Source| matches!(s, Source::Path(_));
        match self {
            Request::Import { files } => files.iter().any(source),
            Request::Merge { source: s } | Request::Restore { source: s, .. } => source(s),
            Request::Export { out, .. } => out.is_some(),
            Request::Backup { file } => file.is_some(),
            _ => false,
        }
    }
}
