//! The HTTP API: each route builds the typed request of the application layer from its path,
//! query and JSON body, has the node run it for the signed-in caller, and answers with the
//! reply's JSON (the shapes `--json` prints). Errors are JSON too: `{"error": "…", "kind": …}`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use shiftmesh_app::{
    Access, AppError, Caller, Category, ConflictFilter, ExportFormat, Exported, Period, Reply,
    Request, ShiftFields, Source, StaffFields,
};
use shiftmesh_model::{AvailabilityKind, Id};
use shiftmesh_rules::{Kind, Severity};
use tokio::sync::oneshot;

use crate::sessions::{SESSION_COOKIE, SESSION_IDLE_SECS};
use crate::Web;

/// How long a request waits for a place in the node's queue before it is told the node is
/// busy.
pub const QUEUE_WAIT_MS: u64 = 5_000;

/// An error as the API answers it.
pub struct Failure {
    status: StatusCode,
    message: String,
    kind: &'static str,
}

impl Failure {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            kind,
        }
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Failure {
        let kind = match e.category() {
            Category::Usage => "usage",
            Category::Invalid => "invalid",
            Category::Forbidden => "forbidden",
            Category::NotFound => "not-found",
            Category::Conflict => "conflict",
            Category::Unavailable => "unavailable",
            Category::Internal => "internal",
        };
        Failure {
            status: StatusCode::from_u16(e.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: e.to_string(),
            kind,
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.message, "kind": self.kind})),
        )
            .into_response()
    }
}

type Answer = Result<Response, Failure>;

/// The caller a request's session cookie names; refused with 401 without one.
pub struct Signed(pub Caller);

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

impl FromRequestParts<Web> for Signed {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Signed, Failure> {
        session_token(&parts.headers)
            .and_then(|token| web.sessions.caller(&token))
            .map(Signed)
            .ok_or_else(|| {
                Failure::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "sign in first (POST /api/login, or the link 'shiftmesh ui' prints)",
                )
            })
    }
}

/// Has the node run a request for a caller.
pub async fn call(web: &Web, caller: Caller, request: Request) -> Result<Reply, Failure> {
    let (tx, rx) = oneshot::channel();
    let busy = || {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the node is busy or stopping; try again in a moment",
        )
    };
    web.calls
        .send_timeout((caller, request, tx), Duration::from_millis(QUEUE_WAIT_MS))
        .await
        .map_err(|_| busy())?;
    match rx.await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(busy()),
    }
}

/// Runs a request and answers with its reply's JSON.
async fn answer(web: &Web, caller: Caller, request: Request) -> Answer {
    let reply = call(web, caller, request).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        reply.to_json_bytes(),
    )
        .into_response())
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, "usage", message)
}

// ---- signing in -------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct SignInBody {
    login: String,
    password: String,
}

fn session_cookie(token: &str, max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub async fn sign_in(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<SignInBody>,
) -> Answer {
    if let Some(wait) = web.sessions.throttled(&body.login, peer.ip()) {
        return Err(Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!(
                "too many failed sign-ins; try again in {} s",
                wait.as_secs().max(1)
            ),
        ));
    }
    let nobody = Caller {
        name: String::new(),
        access: Access::Staff { staff: None },
        account: None,
    };
    let request = Request::SignIn {
        login: body.login.clone(),
        password: body.password,
    };
    let account = match call(&web, nobody, request).await {
        Ok(Reply::SignedIn(account)) => account,
        Ok(_) => return Err(usage("unexpected reply to a sign-in")),
        Err(failure) => {
            if failure.status == StatusCode::FORBIDDEN {
                web.sessions.failed(&body.login, peer.ip());
            }
            return Err(failure);
        }
    };
    web.sessions.succeeded(&body.login);
    let caller = Caller {
        name: account.login.to_string(),
        access: Access::of_role(account.role, account.staff.clone()),
        account: None,
    };
    let token = web.sessions.start(caller);
    let mut response = Json(json!({
        "login": account.login, "name": account.name, "role": account.role, "staff": account.staff
    }))
    .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, SESSION_IDLE_SECS),
    );
    Ok(response)
}

pub async fn sign_out(State(web): State<Web>, headers: HeaderMap) -> Response {
    if let Some(token) = session_token(&headers) {
        web.sessions.end(&token);
    }
    let mut response = Json(json!({"signed_out": true})).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    response
}

pub async fn me(State(web): State<Web>, Signed(caller): Signed) -> Response {
    Json(json!({
        "name": caller.name, "access": caller.access, "node": web.node_name, "site_id": web.site_id
    }))
    .into_response()
}

#[derive(Deserialize)]
pub struct LinkQuery {
    token: String,
    /// Where on the page to land (a path of this page only).
    next: Option<String>,
}

/// The owner's one-time link (`shiftmesh ui`): signs the owner in and opens the page.
pub async fn owner_link(State(web): State<Web>, Query(q): Query<LinkQuery>) -> Response {
    if !web.sessions.spend_link(&q.token) {
        return Failure::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this login link was used already or has expired; run 'shiftmesh ui' for a new one",
        )
        .into_response();
    }
    let token = web.sessions.start(Caller::owner(web.owner.clone()));
    // Only a path on this page: never another site ("//host" or "http:").
    let next = q
        .next
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/".into());
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, SESSION_IDLE_SECS),
    );
    response
}

// ---- reads ------------------------------------------------------------------------------

pub async fn status(State(web): State<Web>, Signed(caller): Signed) -> Answer {
    answer(&web, caller, Request::Status).await
}

pub async fn peers(State(web): State<Web>, Signed(caller): Signed) -> Answer {
    answer(&web, caller, Request::Peers).await
}

#[derive(Deserialize)]
pub struct ScheduleQuery {
    from: Option<jiff::civil::Date>,
    to: Option<jiff::civil::Date>,
    day: Option<jiff::civil::Date>,
    week: Option<jiff::civil::Date>,
    month: Option<jiff::civil::Date>,
    department: Option<Id>,
    staff: Option<Id>,
}

pub async fn schedule(
    State(web): State<Web>,
    Signed(caller): Signed,
    Query(q): Query<ScheduleQuery>,
) -> Answer {
    let period = match (q.from, q.to, q.day, q.week, q.month) {
        (Some(from), Some(to), None, None, None) => Period::Range { from, to },
        (None, None, Some(day), None, None) => Period::Day(day),
        (None, None, None, Some(week), None) => Period::Week(week),
        (None, None, None, None, Some(month)) => Period::Month(month),
        (None, None, None, None, None) => Period::ThisWeek,
        _ => {
            return Err(usage(
                "give one of: from and to, day, week or month (dates as YYYY-MM-DD)",
            ))
        }
    };
    let request = Request::Schedule {
        period,
        department: q.department,
        staff: q.staff,
    };
    answer(&web, caller, request).await
}

#[derive(Deserialize)]
pub struct NowQuery {
    department: Option<Id>,
}

pub async fn now(
    State(web): State<Web>,
    Signed(caller): Signed,
    Query(q): Query<NowQuery>,
) -> Answer {
    let request = Request::Now {
        department: q.department,
    };
    answer(&web, caller, request).await
}

pub async fn shift_copy(
    State(web): State<Web>,
    Signed(caller): Signed,
    Json(spec): Json<shiftmesh_app::CopySpec>,
) -> Answer {
    answer(&web, caller, Request::ShiftCopy(spec)).await
}

pub async fn shift_repeat(
    State(web): State<Web>,
    Signed(caller): Signed,
    Json(spec): Json<shiftmesh_app::RepeatSpec>,
) -> Answer {
    answer(&web, caller, Request::ShiftRepeat(spec)).await
}

pub async fn revert(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(change): Path<String>,
) -> Answer {
    answer(&web, caller, Request::Revert { change }).await
}

pub async fn revert_last_merge(State(web): State<Web>, Signed(caller): Signed) -> Answer {
    answer(&web, caller, Request::RevertLastMerge).await
}

pub async fn cover(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(shift): Path<Id>,
) -> Answer {
    answer(&web, caller, Request::Cover { shift }).await
}

pub async fn departments(State(web): State<Web>, Signed(caller): Signed) -> Answer {
    answer(&web, caller, Request::DepartmentList).await
}

pub async fn staff_list(State(web): State<Web>, Signed(caller): Signed) -> Answer {
    answer(&web, caller, Request::StaffList).await
}

pub async fn staff_show(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<Id>,
) -> Answer {
    answer(&web, caller, Request::StaffShow { id }).await
}

#[derive(Deserialize)]
pub struct ShiftQuery {
    from: Option<jiff::civil::Date>,
    to: Option<jiff::civil::Date>,
    department: Option<Id>,
}

pub async fn shift_list(
    State(web): State<Web>,
    Signed(caller): Signed,
    Query(q): Query<ShiftQuery>,
) -> Answer {
    let request = Request::ShiftList {
        from: q.from,
        to: q.to,
        department: q.department,
    };
    answer(&web, caller, request).await
}

pub async fn shift_show(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<Id>,
) -> Answer {
    answer(&web, caller, Request::ShiftShow { id }).await
}

#[derive(Deserialize)]
pub struct AvailabilityQuery {
    staff: Option<Id>,
}

pub async fn availability_list(
    State(web): State<Web>,
    Signed(caller): Signed,
    Query(q): Query<AvailabilityQuery>,
) -> Answer {
    answer(&web, caller, Request::AvailabilityList { staff: q.staff }).await
}

/// The most conflicts one listing over HTTP returns (`limit` is capped to it).
pub const CONFLICTS_LISTED_MAX: usize = 5_000;

#[derive(Deserialize)]
pub struct ConflictQuery {
    kind: Option<Kind>,
    severity: Option<Severity>,
    from: Option<jiff::civil::Date>,
    to: Option<jiff::civil::Date>,
    limit: Option<usize>,
    staff: Option<Id>,
    department: Option<Id>,
    #[serde(default)]
    summary: bool,
}

pub async fn conflicts(
    State(web): State<Web>,
    Signed(caller): Signed,
    Query(q): Query<ConflictQuery>,
) -> Answer {
    let request = Request::Conflicts(ConflictFilter {
        kind: q.kind,
        severity: q.severity,
        from: q.from,
        to: q.to,
        limit: Some(
            q.limit
                .unwrap_or(CONFLICTS_LISTED_MAX)
                .min(CONFLICTS_LISTED_MAX),
        ),
        staff: q.staff,
        department: q.department,
        summary: q.summary,
    });
    answer(&web, caller, request).await
}

pub async fn conflict_show(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<String>,
) -> Answer {
    answer(&web, caller, Request::ConflictShow { id }).await
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    limit: Option<usize>,
    #[serde(flatten)]
    filter: shiftmesh_model::history::HistoryFilter,
}

/// How many changes `GET /api/history` lists when not told.
pub const HISTORY_DEFAULT_LIMIT: usize = 20;

pub async fn history(
    State(web): State<Web>,
    Signed(caller): Signed,
    Query(q): Query<HistoryQuery>,
) -> Answer {
    let request = Request::History {
        limit: q.limit.unwrap_or(HISTORY_DEFAULT_LIMIT),
        filter: q.filter,
    };
    answer(&web, caller, request).await
}

#[derive(Deserialize)]
pub struct ExportQuery {
    format: String,
    staff: Option<Id>,
    department: Option<Id>,
}

pub async fn export(
    State(web): State<Web>,
    Signed(caller): Signed,
    Query(q): Query<ExportQuery>,
) -> Answer {
    let format = match q.format.as_str() {
        "json" => ExportFormat::Json,
        "ics" => ExportFormat::Ics,
        other => {
            return Err(usage(format!(
                "'{other}' is not an export format over HTTP (json, ics; CSV is five files: use the command line)"
            )))
        }
    };
    let request = Request::Export {
        format,
        staff: q.staff,
        department: q.department,
        out: None,
    };
    match call(&web, caller, request).await? {
        Reply::Exported(Exported::Content {
            text: Some(text), ..
        }) => Ok((
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            text,
        )
            .into_response()),
        other => Ok(Json(other.to_json()).into_response()),
    }
}

pub async fn backup(State(web): State<Web>, Signed(caller): Signed) -> Answer {
    match call(&web, caller, Request::Backup { file: None }).await? {
        Reply::BackedUp(b) => Ok((
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"schedule.automerge\"",
                ),
            ],
            b.data,
        )
            .into_response()),
        other => Ok(Json(other.to_json()).into_response()),
    }
}

// ---- writes -----------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct DepartmentBody {
    id: Id,
    name: String,
    time_zone: Option<String>,
}

pub async fn department_add(
    State(web): State<Web>,
    Signed(caller): Signed,
    Json(b): Json<DepartmentBody>,
) -> Answer {
    let request = Request::DepartmentAdd {
        id: b.id,
        name: b.name,
        time_zone: b.time_zone,
    };
    answer(&web, caller, request).await
}

/// A department's new name or zone; a `time_zone` of "" returns it to the site's zone.
#[derive(Deserialize)]
pub struct DepartmentChange {
    name: Option<String>,
    time_zone: Option<String>,
}

pub async fn department_update(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<Id>,
    Json(b): Json<DepartmentChange>,
) -> Answer {
    let request = Request::DepartmentUpdate {
        id,
        name: b.name,
        time_zone: b.time_zone,
    };
    answer(&web, caller, request).await
}

pub async fn department_remove(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<Id>,
) -> Answer {
    answer(&web, caller, Request::DepartmentRemove { id }).await
}

#[derive(Deserialize)]
pub struct StaffBody {
    id: Id,
    #[serde(flatten)]
    fields: StaffFields,
}

pub async fn staff_add(
    State(web): State<Web>,
    Signed(caller): Signed,
    Json(b): Json<StaffBody>,
) -> Answer {
    answer(
        &web,
        caller,
        Request::StaffAdd {
            id: b.id,
            fields: b.fields,
        },
    )
    .await
}

pub async fn staff_update(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<Id>,
    Json(fields): Json<StaffFields>,
) -> Answer {
    answer(&web, caller, Request::StaffUpdate { id, fields }).await
}

#[derive(Deserialize)]
pub struct RemoveQuery {
    #[serde(default)]
    force: bool,
}

pub async fn staff_remove(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<Id>,
    Query(q): Query<RemoveQuery>,
) -> Answer {
    let request = Request::StaffRemove { id, force: q.force };
    answer(&web, caller, request).await
}

#[derive(Deserialize)]
pub struct ShiftBody {
    id: Id,
    #[serde(flatten)]
    fields: ShiftFields,
}

pub async fn shift_add(
    State(web): State<Web>,
    Signed(caller): Signed,
    Json(b): Json<ShiftBody>,
) -> Answer {
    answer(
        &web,
        caller,
        Request::ShiftAdd {
            id: b.id,
            fields: b.fields,
        },
    )
    .await
}

pub async fn shift_update(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<Id>,
    Json(fields): Json<ShiftFields>,
) -> Answer {
    answer(&web, caller, Request::ShiftUpdate { id, fields }).await
}

pub async fn shift_remove(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<Id>,
    Query(q): Query<RemoveQuery>,
) -> Answer {
    let request = Request::ShiftRemove { id, force: q.force };
    answer(&web, caller, request).await
}

#[derive(Deserialize)]
pub struct AssignBody {
    staff: Id,
    shift: Id,
    role: Option<String>,
    note: Option<String>,
    #[serde(default)]
    check: bool,
}

pub async fn assign(
    State(web): State<Web>,
    Signed(caller): Signed,
    Json(b): Json<AssignBody>,
) -> Answer {
    let request = Request::Assign {
        staff: b.staff,
        shift: b.shift,
        role: b.role,
        note: b.note,
        check: b.check,
    };
    answer(&web, caller, request).await
}

pub async fn unassign(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path((shift, staff)): Path<(Id, Id)>,
) -> Answer {
    answer(&web, caller, Request::Unassign { staff, shift }).await
}

#[derive(Deserialize)]
pub struct AvailabilityBody {
    staff: Id,
    from: jiff::civil::DateTime,
    to: jiff::civil::DateTime,
    kind: AvailabilityKind,
    reason: Option<String>,
}

pub async fn availability_add(
    State(web): State<Web>,
    Signed(caller): Signed,
    Json(b): Json<AvailabilityBody>,
) -> Answer {
    let request = Request::AvailabilityAdd {
        staff: b.staff,
        from: b.from,
        to: b.to,
        kind: b.kind,
        reason: b.reason,
    };
    answer(&web, caller, request).await
}

pub async fn availability_remove(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<Id>,
) -> Answer {
    answer(&web, caller, Request::AvailabilityRemove { id }).await
}

#[derive(Deserialize)]
pub struct ResolveBody {
    option: String,
    staff: Option<Id>,
    value: Option<String>,
}

pub async fn resolve(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<String>,
    Json(b): Json<ResolveBody>,
) -> Answer {
    let request = Request::Resolve {
        id,
        option: b.option,
        staff: b.staff,
        value: b.value,
    };
    answer(&web, caller, request).await
}

#[derive(Deserialize)]
pub struct AckBody {
    note: Option<String>,
}

pub async fn ack(
    State(web): State<Web>,
    Signed(caller): Signed,
    Path(id): Path<String>,
    Json(b): Json<AckBody>,
) -> Answer {
    answer(&web, caller, Request::Ack { id, note: b.note }).await
}

#[derive(Deserialize)]
pub struct ImportFile {
    name: String,
    text: String,
}

#[derive(Deserialize)]
pub struct ImportBody {
    files: Vec<ImportFile>,
}

pub async fn import(
    State(web): State<Web>,
    Signed(caller): Signed,
    Json(b): Json<ImportBody>,
) -> Answer {
    let files = b
        .files
        .into_iter()
        .map(|f| Source::Bytes {
            name: f.name,
            data: f.text.into_bytes(),
        })
        .collect();
    answer(&web, caller, Request::Import { files }).await
}

/// `POST /api/merge`: the body is another node's backup.
pub async fn merge(State(web): State<Web>, Signed(caller): Signed, body: Bytes) -> Answer {
    let source = Source::Bytes {
        name: "the uploaded backup".into(),
        data: body.to_vec(),
    };
    answer(&web, caller, Request::Merge { source }).await
}

pub async fn not_found() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such API path (docs/API.md lists them)",
    )
}
