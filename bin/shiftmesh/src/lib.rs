//! The `shiftmesh` command line as a library: parse, build a typed request, run it — through
//! the node running on the data directory when there is one, else against the store — and
//! print the reply as text or JSON. What shiftmesh does lives in `shiftmesh-app`.
//! Exit codes: 0 success, 1 the operation failed, 2 usage error. Errors are one line on stderr.

pub mod cli;
mod node;
mod output;
mod render;
mod request;
mod service;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use shiftmesh_app::{AppError, Caller, Context, Reply, Request, Setup};
use shiftmesh_node::control::{Client, ControlReply, ControlRequest, Failure};

use crate::cli::{Cli, Command};

/// An error in what the user typed: reported with exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A request the running node refused, with the exit code it gave.
#[derive(Debug)]
struct Refused(Failure);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Refused {}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Node(_) => node::run(cli),
        Command::Events => node::follow_events(&cli),
        Command::Ui => node::ui_link(&cli),
        Command::Init(_) => init(cli),
        Command::Service(command) => service::run(&cli, command),
        Command::Completions { shell } => service::completions(*shell),
        Command::Man { dir } => service::man_pages(dir),
        _ => run_request(cli),
    }
}

fn init(cli: Cli) -> anyhow::Result<()> {
    let data_dir = data_dir(&cli)?;
    let user = user(&cli);
    let Command::Init(args) = cli.command else {
        unreachable!("only called for init");
    };
    let done = shiftmesh_app::init(
        &data_dir,
        Setup {
            name: args.name,
            time_zone: args.time_zone,
            node_name: args.node_name,
            join: args.join.as_deref().map(read_invite).transpose()?,
            user,
        },
    )?;
    output::either(cli.json, &done, || {
        match (&done.joined, &done.inviter) {
        _ if !done.initialised => format!(
            "{} is already initialised; nothing changed",
            data_dir.display()
        ),
        (Some(true), Some(inviter)) => format!(
            "initialised {} to join the site of {inviter}\n  node       {}\n  peer id    {}\nnext: run 'shiftmesh node'; it presents the invite to {inviter} and, once let in, fetches the site's schedule",
            data_dir.display(),
            done.name.clone().unwrap_or_default(),
            done.peer_id.clone().unwrap_or_default(),
        ),
        _ => format!(
            "initialised {}\n  site       {} ({})\n  node       {}\n  peer id    {}",
            data_dir.display(),
            done.site.clone().unwrap_or_default(),
            done.time_zone.clone().unwrap_or_default(),
            done.name.clone().unwrap_or_default(),
            done.peer_id.clone().unwrap_or_default(),
        ),
    }
    })
}

/// The invite `--join` names: `-` reads it from stdin, an existing file's path from that file,
/// and anything else is the invite itself.
fn read_invite(given: &str) -> anyhow::Result<String> {
    use std::io::Read as _;
    // Far more than any invite: the invite's own check says what is wrong with a long one.
    const INVITE_READ_MAX_BYTES: u64 = 64 * 1024;
    let mut text = String::new();
    if given == "-" {
        if std::io::stdin().is_terminal() {
            eprintln!("Paste the invite ('shiftmesh invite' printed it on a machine of the site), then press Enter:");
            std::io::stdin()
                .read_line(&mut text)
                .context("reading the invite from stdin")?;
        } else {
            std::io::stdin()
                .take(INVITE_READ_MAX_BYTES)
                .read_to_string(&mut text)
                .context("reading the invite from stdin")?;
        }
        return Ok(text);
    }
    let path = Path::new(given);
    if !given.starts_with(shiftmesh_app::INVITE_PREFIX) && path.is_file() {
        std::fs::File::open(path)
            .and_then(|f| f.take(INVITE_READ_MAX_BYTES).read_to_string(&mut text))
            .with_context(|| format!("reading the invite from {}", path.display()))?;
        return Ok(text);
    }
    Ok(given.to_owned())
}

fn run_request(cli: Cli) -> anyhow::Result<()> {
    let data_dir = data_dir(&cli)?;
    let caller = Caller {
        // Proven by the node from the socket when one runs; here, the account running this.
        account: Some(shiftmesh_node::control::account_name(
            rustix::process::geteuid(),
        )),
        ..Caller::owner(user(&cli))
    };
    let json = cli.json;
    let confirmed_restore = match &cli.command {
        Command::Restore(args) => Some(confirm_restore(&data_dir, &args.file, args.yes)?),
        _ => None,
    };
    let cwd = std::env::current_dir().context("the current directory")?;
    let request = request::of_command(cli.command, &cwd)?;
    let reply = match Client::connect(&data_dir)? {
        Some(client) => through_node(client, caller, &request)?,
        None => match (&request, confirmed_restore) {
            (Request::Restore { source }, Some(())) => shiftmesh_app::restore(&data_dir, source)?,
            _ => match offline(data_dir.clone(), caller.clone(), request.clone()) {
                Err(e) if is_locked(&e) => once_free(&data_dir, caller, &request, e)?,
                other => other?,
            },
        },
    };
    show(json, &request, &reply)
}

/// Runs a request through the node.
fn through_node(client: Client, caller: Caller, request: &Request) -> anyhow::Result<Reply> {
    match client.ask(&ControlRequest::Run {
        caller,
        request: Box::new(request.clone()),
    })? {
        ControlReply::Done(reply) => Ok(*reply),
        ControlReply::Failed(failure) => Err(Refused(failure).into()),
        ControlReply::Link { .. } => {
            anyhow::bail!("the node answered with something else than was asked")
        }
    }
}

/// How long a command waits for the store held by another process: a node starting (it holds
/// the store while it loads the schedule, before it answers) or another command.
const STORE_BUSY_WAIT_SECS: u64 = 60;
const STORE_BUSY_POLL_MS: u64 = 50;

fn is_locked(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<AppError>(),
        Some(AppError::Store(shiftmesh_store::StoreError::Locked { .. }))
    )
}

/// Another process held the store: a node that is starting, or another command. The request
/// goes through the node as soon as it answers, or runs here once the store is free; after
/// [`STORE_BUSY_WAIT_SECS`], the original error stands.
fn once_free(
    data_dir: &Path,
    caller: Caller,
    request: &Request,
    locked: anyhow::Error,
) -> anyhow::Result<Reply> {
    eprintln!(
        "another shiftmesh process is using the store in {} (a node starting?); waiting up to {STORE_BUSY_WAIT_SECS} s…",
        data_dir.display()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(STORE_BUSY_WAIT_SECS);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(STORE_BUSY_POLL_MS));
        if let Some(client) = Client::connect(data_dir)? {
            return through_node(client, caller, request);
        }
        match offline(data_dir.to_owned(), caller.clone(), request.clone()) {
            Err(e) if is_locked(&e) => continue,
            other => return other,
        }
    }
    Err(locked)
}

/// Runs a request against the store, opened by this process.
fn offline(data_dir: PathBuf, caller: Caller, request: Request) -> anyhow::Result<Reply> {
    let mut bar = node::Progress::new();
    let mut report = |what: &str, done: usize, total: usize| bar.set(what, done, total);
    let mut ctx = Context::offline(data_dir, caller, shiftmesh_node::fingerprint);
    ctx.progress = Some(&mut report);
    let reply = shiftmesh_app::execute(&mut ctx, request);
    drop(ctx);
    bar.finish();
    Ok(reply?)
}

/// Prints a reply; a few replies also decide the exit code.
fn show(json: bool, request: &Request, reply: &Reply) -> anyhow::Result<()> {
    match reply {
        // An export to stdout is the content itself, whatever --json says.
        Reply::Exported(shiftmesh_app::Exported::Content { json: Some(v), .. }) => output::json(v)?,
        Reply::Exported(shiftmesh_app::Exported::Content {
            text: Some(text), ..
        }) => output::text(text)?,
        _ if json => output::json(&reply.to_json())?,
        _ => output::human(&render::text(reply))?,
    }
    if let (false, Reply::Invite(invite)) = (json, reply) {
        eprintln!("{}", render::invite_instructions(invite));
    }
    if let Reply::Exported(
        shiftmesh_app::Exported::Written { notes, .. }
        | shiftmesh_app::Exported::Content { notes, .. },
    ) = reply
    {
        for note in notes {
            eprintln!("note: {note}");
        }
    }
    if let Reply::Doctor(findings) = reply {
        let warnings = findings.iter().filter(|f| f.warning).count();
        if warnings > 0 {
            anyhow::bail!("{warnings} thing(s) on this machine need attention");
        }
    }
    if let (Request::Assign { check: true, .. }, Reply::Assigned(a)) = (request, reply) {
        let errors = a
            .conflicts
            .iter()
            .filter(|c| c.severity == shiftmesh_rules::Severity::Error)
            .count();
        if errors > 0 {
            anyhow::bail!("the assignment would cause {errors} error(s); nothing was written");
        }
    }
    Ok(())
}

/// Restore replaces the whole schedule: asked before, unless `--yes`.
fn confirm_restore(
    data_dir: &std::path::Path,
    file: &std::path::Path,
    yes: bool,
) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "restore replaces this node's schedule; pass --yes to confirm".into(),
        )
        .into());
    }
    eprint!(
        "Replace the schedule in {} with {}? [y/N] ",
        data_dir.display(),
        file.display()
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        anyhow::bail!("restore cancelled; nothing changed");
    }
    Ok(())
}

pub fn data_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.data_dir {
        Some(dir) => Ok(dir.clone()),
        None => default_data_dir(),
    }
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("shiftmesh"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("neither XDG_DATA_HOME nor HOME is set; pass --data-dir DIR")?;
    Ok(PathBuf::from(home).join(".local/share/shiftmesh"))
}

/// Who is acting: `--as`, else SHIFTMESH_USER (read by clap), else the OS user.
pub fn user(cli: &Cli) -> String {
    cli.as_user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The exit code and the one-line error a command's result comes to.
pub fn outcome(result: anyhow::Result<()>) -> (u8, Option<String>) {
    match result {
        Ok(()) => (0, None),
        Err(e) if output::is_broken_pipe(&e) => (0, None),
        Err(e) => {
            let code = if let Some(app) = e.downcast_ref::<AppError>() {
                app.exit_code()
            } else if let Some(refused) = e.downcast_ref::<Refused>() {
                refused.0.exit_code
            } else if e.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            };
            (code, Some(one_line(&format!("{e:#}"))))
        }
    }
}

/// A clap error as one line.
pub fn usage_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    // The values an option takes, and the arguments missing, are worth the line's length:
    // they are the fix.
    let values = rendered
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("[possible values:"))
        .map(|l| format!(" {l}"))
        .unwrap_or_default();
    let missing = if first.ends_with("were not provided:") {
        rendered
            .lines()
            .skip_while(|l| !l.ends_with("were not provided:"))
            .skip(1)
            .map(str::trim)
            .take_while(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        String::new()
    };
    let missing = if missing.is_empty() {
        missing
    } else {
        format!(" {missing}")
    };
    format!("{first}{missing}{values} (see 'shiftmesh --help')")
}

fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
