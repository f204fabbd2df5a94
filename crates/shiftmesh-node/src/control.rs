//! The local control channel: a Unix socket in the data directory (0700), itself 0600, so only
//! the directory's owner reaches it. One JSON request per connection, one line: a typed
//! application request (never a command line), answered by one JSON line with its typed reply;
//! or `events`, answered by a line per event until the client hangs up.

use std::io::{BufRead, BufReader, Read as _, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use shiftmesh_app::{AppError, Caller, Reply, Request};

pub const SOCKET_FILE: &str = "node.sock";
/// The largest request line accepted (requests name files; they do not carry them).
pub const MAX_CONTROL_REQUEST_BYTES: usize = 64 * 1024;
/// The largest answer a client reads (a YEAR export as JSON is about 40 MiB).
pub const MAX_CONTROL_REPLY_BYTES: usize = 512 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ControlRequest {
    /// Run a request in the node, for the data directory's owner acting as `caller`.
    Run {
        caller: Caller,
        request: Box<Request>,
    },
    /// A one-time link that signs the owner in to the page (`shiftmesh ui`).
    LoginLink,
    /// Follow the node's event stream.
    Events,
}

/// How a request that failed is told to the client: the one-line message and how to exit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub message: String,
    pub exit_code: u8,
}

impl From<&AppError> for Failure {
    fn from(e: &AppError) -> Failure {
        Failure {
            message: e.to_string(),
            exit_code: e.exit_code(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlReply {
    Done(Box<Reply>),
    Failed(Failure),
    Link { url: String, expires: String },
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Whether a process of user `uid` may be talked to over the control socket, from either end:
/// this process's own user, or root (who can read the data directory anyway).
pub fn may_talk_to(uid: rustix::process::Uid) -> bool {
    uid == rustix::process::geteuid() || uid.is_root()
}

/// The OS account of `uid`, as the author's proven part: its login name, or `uid N` when the
/// system has no name for it.
pub fn account_name(uid: rustix::process::Uid) -> String {
    let raw = uid.as_raw();
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(raw)) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {raw}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the node on {0} stopped answering ({1}); see its log")]
    Io(PathBuf, std::io::Error),
    #[error("the node on {0} sent an answer that cannot be read ({1})")]
    Malformed(PathBuf, String),
    #[error("permission denied on {0}: only the user who owns the data directory may use its node; run the command as that user")]
    NotOwner(PathBuf),
    #[error("{0} is not a socket (a symlink or a file put there?); remove it, then start the node again")]
    NotASocket(PathBuf),
    #[error("the program answering on {0} runs as user id {1}, not as you; it is not this data directory's node, so nothing was sent to it")]
    ForeignServer(PathBuf, u32),
}

/// A connection to the node running on a data directory.
pub struct Client {
    path: PathBuf,
    stream: UnixStream,
}

impl Client {
    /// Connects to the node running on `data_dir`, or None when none runs there (no socket,
    /// or a stale one left by a node that was killed).
    ///
    /// The socket must be a socket, not a symlink to one elsewhere, and whoever answers on it
    /// must run as this user (or root): anything else could be another user's program waiting
    /// for our requests.
    pub fn connect(data_dir: &Path) -> Result<Option<Client>, ControlError> {
        use std::os::unix::fs::FileTypeExt;
        let path = socket_path(data_dir);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(ControlError::NotASocket(path));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ControlError::NotOwner(path));
            }
            Err(_) => return Ok(None),
        }
        let stream = match UnixStream::connect(&path) {
            Ok(stream) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ControlError::NotOwner(path));
            }
            Err(_) => return Ok(None),
        };
        let server = rustix::net::sockopt::socket_peercred(&stream)
            .map_err(|e| ControlError::Io(path.clone(), e.into()))?;
        if !may_talk_to(server.uid) {
            return Err(ControlError::ForeignServer(path, server.uid.as_raw()));
        }
        Ok(Some(Client { path, stream }))
    }

    fn send(&mut self, request: &ControlRequest) -> Result<(), ControlError> {
        let mut line = serde_json::to_vec(request).expect("a control request serialises");
        line.push(b'\n');
        self.stream
            .write_all(&line)
            .map_err(|e| ControlError::Io(self.path.clone(), e))
    }

    /// Sends a request and reads the one-line answer.
    pub fn ask(mut self, request: &ControlRequest) -> Result<ControlReply, ControlError> {
        self.send(request)?;
        let mut reader = BufReader::new(&self.stream).take(MAX_CONTROL_REPLY_BYTES as u64);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| ControlError::Io(self.path.clone(), e))?;
        serde_json::from_str(&line)
            .map_err(|e| ControlError::Malformed(self.path.clone(), e.to_string()))
    }

    /// Follows the event stream, handing each line to `each` until it fails or the node stops.
    pub fn events(
        mut self,
        mut each: impl FnMut(&str) -> std::io::Result<()>,
    ) -> Result<(), ControlError> {
        self.send(&ControlRequest::Events)?;
        let reader = BufReader::new(&self.stream);
        for line in reader.lines() {
            let line = line.map_err(|e| ControlError::Io(self.path.clone(), e))?;
            if let Err(e) = each(&line) {
                return Err(ControlError::Io(self.path.clone(), e));
            }
        }
        Ok(())
    }
}
