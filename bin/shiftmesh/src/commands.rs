//! Running each command: validate, change or read the schedule, persist, print.

use std::collections::BTreeSet;

use anyhow::{bail, Context as _};
use serde_json::json;
use shiftmesh_model::entity::{
    check_multiline_text, check_name, check_text, normalize_line_breaks,
};
use shiftmesh_model::{
    Assignment, AssignmentKey, Availability, Collection, Department, Entity, Id, LocalSpan,
    Schedule, Shift, SiteZone, Staff,
};
use shiftmesh_store::{JoinTicket, NodeConfig, Store};

use crate::cli::{
    AvailabilityCommand, Command, ConflictsCommand, DepartmentCommand, InitArgs, ShiftCommand,
    ShiftFields, StaffCommand, StaffFields,
};
use shiftmesh_node::Session;

use crate::context::{host_name, Context};
use crate::invite::Invite;
use crate::{conflicts, output, peers, transfer, views, UsageError};

/// Runs a command against the context's schedule (opened here, or the running node's).
pub fn run(command: Command, ctx: &mut Context) -> anyhow::Result<()> {
    match command {
        Command::Init(args) => init(ctx, args),
        Command::Node(_) | Command::Events => {
            bail!("a running node cannot run 'node' or 'events' for a client")
        }
        Command::Status => views::status(ctx),
        Command::Invite(args) => peers::invite(ctx, args),
        Command::Peers { command } => peers::run(ctx, command),
        Command::Department(cmd) => department(ctx, cmd),
        Command::Staff(cmd) => staff(ctx, cmd),
        Command::Shift(cmd) => shift(ctx, cmd),
        Command::Assign(args) => {
            let (s, checked) = conflicts::Checked::open(&mut ctx.db)?;
            let assignment = Assignment {
                shift: args.shift,
                staff: args.staff,
                role: checked_text("role", args.role)?,
                note: checked_lines("note", args.note)?,
                created_at_ms: crate::context::now_ms(),
                created_by: s.edit().author,
                window: None,
            };
            let written = s.schedule.assign(&s.edit(), &assignment)?;
            let caused = checked.caused(&mut s.schedule, &written.dirty)?;
            let key = assignment.key().to_string();
            if !args.check {
                s.persist()?;
            }
            let value = json!({"assignment": key, "written": !args.check, "conflicts": caused});
            output::either(ctx.json, &value, || {
                let verb = if args.check {
                    "would assign"
                } else {
                    "assigned"
                };
                let mut text = format!("{verb} {} to {}", assignment.staff, assignment.shift);
                if caused.is_empty() {
                    text.push_str("; no conflicts");
                } else {
                    text.push_str(&format!("; this causes {} conflict(s):", caused.len()));
                    text.push_str(&conflicts::describe(&caused));
                }
                if args.check {
                    text.push_str("\n(checked only: nothing was written)");
                }
                text
            })?;
            let errors = caused
                .iter()
                .filter(|c| c.severity == shiftmesh_rules::Severity::Error)
                .count();
            if args.check && errors > 0 {
                bail!("the assignment would cause {errors} error(s); nothing was written");
            }
            Ok(())
        }
        Command::Unassign(args) => {
            let s = ctx.db.open()?;
            let key = AssignmentKey::new(args.shift.clone(), args.staff.clone()).to_string();
            let message = format!("unassign {} from {}", args.staff, args.shift);
            s.schedule
                .remove(
                    &s.edit(),
                    Collection::Assignments,
                    &key,
                    &[],
                    message.clone(),
                )
                .map_err(|e| match e {
                    shiftmesh_model::ModelError::NotFound { .. } => {
                        anyhow::anyhow!("{} is not assigned to {}", args.staff, args.shift)
                    }
                    other => other.into(),
                })?;
            s.persist()?;
            output::either(ctx.json, &json!({"removed": key}), || message)
        }
        Command::Availability(cmd) => availability(ctx, cmd),
        Command::Schedule(args) => views::schedule(ctx, args),
        Command::Conflicts(args) => match args.command {
            None => conflicts::list(ctx, args.filter),
            Some(ConflictsCommand::List { filter }) => conflicts::list(ctx, filter),
            Some(ConflictsCommand::Show { id }) => conflicts::show(ctx, &id),
        },
        Command::Resolve(args) => conflicts::resolve(ctx, args),
        Command::Ack(args) => conflicts::ack(ctx, args),
        Command::History(args) => views::history(ctx, args),
        Command::Import(args) => transfer::import(ctx, args),
        Command::Export(args) => transfer::export(ctx, args),
        Command::Backup(args) => transfer::backup(ctx, args),
        Command::Restore(args) => transfer::restore(ctx, args),
        Command::Merge(args) => transfer::merge(ctx, args),
    }
}

fn checked_text(what: &str, text: Option<String>) -> anyhow::Result<String> {
    let text = text.unwrap_or_default();
    check_text(what, &text).map_err(|e| UsageError(e.message))?;
    Ok(text)
}

/// Free text that may run over several lines (a note, a reason), by the rule the CSV import
/// and export share.
pub(crate) fn checked_lines(what: &str, text: Option<String>) -> anyhow::Result<String> {
    let text = normalize_line_breaks(&text.unwrap_or_default());
    check_multiline_text(what, &text).map_err(|e| UsageError(e.message))?;
    Ok(text)
}

fn init(ctx: &mut Context, args: InitArgs) -> anyhow::Result<()> {
    let node_name = args.node_name.unwrap_or_else(host_name);
    Id::parse(&node_name).map_err(|e| UsageError(format!("node name: {e}")))?;
    let joining = match &args.join {
        Some(text) => Some(Invite::decode(text).map_err(UsageError)?),
        None => None,
    };
    let zone = args.time_zone.unwrap_or_else(SiteZone::of_machine);
    let name = args.name.unwrap_or_else(|| "shiftmesh site".to_owned());
    check_name("site name", &name).map_err(|e| UsageError(e.message))?;
    let mut schedule = Schedule::new();
    let config = NodeConfig {
        node_name: node_name.clone(),
    };
    let site_key = joining.as_ref().map(|(_, key)| key.clone());
    let Some(opened) = Store::init(&ctx.data_dir, config, site_key, schedule.doc_mut())? else {
        return output::either(
            ctx.json,
            &json!({"initialised": false, "data_dir": ctx.data_dir}),
            || {
                format!(
                    "{} is already initialised; nothing changed",
                    ctx.data_dir.display()
                )
            },
        );
    };
    let mut s = Session {
        store: opened.store,
        schedule,
        identity: opened.identity,
        user: ctx.db.user(),
        write_index_on_persist: true,
    };
    let peer_id = s.identity.peer_id().to_string();
    if let Some((invite, _)) = &joining {
        // The site's name and time zone arrive with its schedule; writing our own here would
        // only make them conflict. What we keep is where to find the inviting machine.
        for address in &invite.addresses {
            s.store.remember_address(&invite.peer, address)?;
        }
        s.store.set_join_ticket(&JoinTicket {
            inviter: invite.peer.clone(),
            secret: invite.secret.clone(),
            accepted: false,
            refused: None,
        })?;
        s.persist()?;
        return output::either(
            ctx.json,
            &json!({"initialised": true, "joined": true, "data_dir": ctx.data_dir, "peer_id": peer_id,
                    "name": node_name, "inviter": invite.peer}),
            || {
                format!(
                    "initialised {} to join the site of {}\n  node       {node_name}\n  peer id    {peer_id}\nnext: run 'shiftmesh node'; it presents the invite to {} and, once let in, fetches the site's schedule",
                    ctx.data_dir.display(),
                    invite.peer,
                    invite.peer
                )
            },
        );
    }
    s.schedule.set_site(&s.edit(), &name, &zone)?;
    // The founding machine is the site's first member; every other joins through a member.
    s.schedule
        .trust_member(&s.edit(), &peer_id, &node_name, "founding the site")?;
    s.persist()?;
    output::either(
        ctx.json,
        &json!({"initialised": true, "data_dir": ctx.data_dir, "peer_id": peer_id,
                "name": node_name, "site": name, "time_zone": zone.name()}),
        || {
            format!(
                "initialised {}\n  site       {name} ({})\n  node       {node_name}\n  peer id    {peer_id}",
                ctx.data_dir.display(),
                zone.name()
            )
        },
    )
}

fn department(ctx: &mut Context, cmd: DepartmentCommand) -> anyhow::Result<()> {
    match cmd {
        DepartmentCommand::Add {
            id,
            name,
            time_zone,
        } => {
            check_name("name", &name).map_err(|e| UsageError(e.message))?;
            let s = ctx.db.open()?;
            let department = Department {
                id: id.clone(),
                name,
                time_zone: time_zone.map(|z| z.name().to_owned()),
            };
            s.schedule
                .add(&s.edit(), &department, format!("add department {id}"))?;
            s.persist()?;
            output::either(ctx.json, &department, || format!("added department {id}"))
        }
        DepartmentCommand::List => {
            let r = ctx.db.read()?;
            let list: Vec<&Department> = r.view().index().departments.values().collect();
            output::either(ctx.json, &list, || {
                views::table(
                    &["ID", "NAME", "TIME ZONE"],
                    list.iter().map(|d| {
                        vec![
                            d.id.to_string(),
                            d.name.clone(),
                            d.time_zone.clone().unwrap_or_else(|| "(site)".into()),
                        ]
                    }),
                )
            })
        }
    }
}

fn skills(given: &[Id]) -> BTreeSet<String> {
    given.iter().map(|s| s.to_string()).collect()
}

/// Applies the given flags to `staff` and returns the names of the fields they set.
fn apply_staff_fields(staff: &mut Staff, f: &StaffFields) -> Vec<&'static str> {
    let mut set = Vec::new();
    if let Some(name) = &f.name {
        staff.name = name.clone();
        set.push("name");
    }
    if let Some(department) = &f.department {
        staff.department = Some(department.clone());
        set.push("department");
    }
    if !f.skills.is_empty() || f.no_skills {
        staff.skills = skills(&f.skills);
        set.push("skills");
    }
    if let Some(minutes) = f.max_hours_week {
        staff.max_minutes_week = Some(minutes);
        set.push("max_minutes_week");
    }
    if let Some(date) = f.employment_start {
        staff.employment_start = Some(date);
        set.push("employment_start");
    }
    if let Some(date) = f.employment_end {
        staff.employment_end = Some(date);
        set.push("employment_end");
    }
    if let Some(active) = f.active {
        staff.active = active;
        set.push("active");
    }
    set
}

fn require_department(s: &Session, department: &Option<Id>) -> anyhow::Result<()> {
    if let Some(d) = department {
        s.schedule.require(Collection::Departments, d.as_str())?;
    }
    Ok(())
}

fn staff(ctx: &mut Context, cmd: StaffCommand) -> anyhow::Result<()> {
    match cmd {
        StaffCommand::Add { id, fields } => {
            let Some(name) = fields.name.clone() else {
                return Err(UsageError("staff add needs --name NAME".into()).into());
            };
            let mut staff = Staff::new(id.clone(), name);
            apply_staff_fields(&mut staff, &fields);
            staff.check().map_err(|e| UsageError(e.message))?;
            let s = ctx.db.open()?;
            require_department(s, &staff.department)?;
            s.schedule
                .add(&s.edit(), &staff, format!("add staff {id}"))?;
            s.persist()?;
            output::either(ctx.json, &staff, || format!("added staff {id}"))
        }
        StaffCommand::List => {
            let r = ctx.db.read()?;
            let index = r.view().index();
            let list: Vec<&Staff> = index.staff.values().collect();
            output::either(ctx.json, &list, || views::staff_table(index, &list))
        }
        StaffCommand::Show { id } => views::staff_show(ctx, &id),
        StaffCommand::Update { id, fields } => {
            let s = ctx.db.open()?;
            let mut staff = s
                .schedule
                .index()
                .staff
                .get(&id)
                .cloned()
                .ok_or_else(|| not_found("staff member", &id))?;
            let set = apply_staff_fields(&mut staff, &fields);
            staff.check().map_err(|e| UsageError(e.message))?;
            require_department(s, &staff.department)?;
            write_update(ctx.json, s, &staff, &set, "staff")
        }
        StaffCommand::Remove { id, force } => {
            let s = ctx.db.open()?;
            let held: Vec<AssignmentKey> = s
                .schedule
                .index()
                .assignments_of_staff(&id)
                .map(|a| a.key())
                .collect();
            remove_with_assignments(ctx.json, s, Collection::Staff, &id, held, force)
        }
    }
}

/// Writes the fields an update command set (only those), persists, and prints the entity.
fn write_update<E: Entity + serde::Serialize>(
    json: bool,
    s: &mut Session,
    entity: &E,
    set: &[&'static str],
    noun: &str,
) -> anyhow::Result<()> {
    if set.is_empty() {
        return Err(UsageError(format!("{noun} update needs at least one field to change")).into());
    }
    let message = format!("update {noun} {} ({})", entity.key(), set.join(", "));
    let written = s.schedule.update(&s.edit(), entity, set, message.clone())?;
    s.persist()?;
    // Writing the values a field already holds makes no change (and nothing to sync): say so,
    // rather than report an update no other machine will ever see.
    output::either(json, entity, || match written.change {
        Some(_) => message,
        None => format!(
            "{noun} {} already has these values; nothing changed",
            entity.key()
        ),
    })
}

fn remove_with_assignments(
    json: bool,
    s: &mut Session,
    collection: Collection,
    id: &Id,
    held: Vec<AssignmentKey>,
    force: bool,
) -> anyhow::Result<()> {
    s.schedule.require(collection, id.as_str())?;
    if !held.is_empty() && !force {
        let names: Vec<String> = held.iter().take(5).map(|k| k.to_string()).collect();
        bail!(
            "{id} has {} assignment(s) ({}{}); unassign them first, or pass --force to remove them too",
            held.len(),
            names.join(", "),
            if held.len() > 5 { ", …" } else { "" }
        );
    }
    let also: Vec<(Collection, String)> = held
        .iter()
        .map(|k| (Collection::Assignments, k.to_string()))
        .collect();
    let message = if held.is_empty() {
        format!("remove {} {id}", collection.noun())
    } else {
        format!(
            "remove {} {id} and {} assignment(s)",
            collection.noun(),
            held.len()
        )
    };
    s.schedule
        .remove(&s.edit(), collection, id.as_str(), &also, message.clone())?;
    s.persist()?;
    output::either(
        json,
        &json!({"removed": id, "assignments_removed": held.len()}),
        || message,
    )
}

fn not_found(kind: &'static str, id: &Id) -> anyhow::Error {
    shiftmesh_model::ModelError::NotFound {
        kind,
        id: id.to_string(),
    }
    .into()
}

fn apply_shift_fields(shift: &mut Shift, f: &ShiftFields) -> Vec<&'static str> {
    let mut set = Vec::new();
    if f.date.is_some() || f.start.is_some() || f.end.is_some() {
        shift.date = f.date.unwrap_or(shift.date);
        shift.start = f.start.unwrap_or(shift.start);
        shift.end = f.end.unwrap_or(shift.end);
        set.push("time");
    }
    if let Some(department) = &f.department {
        shift.department = Some(department.clone());
        set.push("department");
    }
    if let Some(capacity) = f.capacity {
        shift.capacity = capacity;
        set.push("capacity");
    }
    if let Some(min) = f.min_staff {
        shift.min_staff = min;
        set.push("min_staff");
    }
    if !f.skills.is_empty() || f.no_skills {
        shift.skills = skills(&f.skills);
        set.push("skills");
    }
    if let Some(label) = &f.label {
        shift.label = label.clone();
        set.push("label");
    }
    set
}

fn shift(ctx: &mut Context, cmd: ShiftCommand) -> anyhow::Result<()> {
    match cmd {
        ShiftCommand::Add { id, fields } => {
            let (Some(date), Some(start), Some(end)) = (fields.date, fields.start, fields.end)
            else {
                return Err(UsageError(
                    "shift add needs --date YYYY-MM-DD --start HH:MM --end HH:MM".into(),
                )
                .into());
            };
            let capacity = fields.capacity.unwrap_or(1);
            let mut shift = Shift {
                id: id.clone(),
                department: None,
                date,
                start,
                end,
                capacity,
                min_staff: fields.min_staff.unwrap_or(1.min(capacity)),
                skills: BTreeSet::new(),
                label: String::new(),
            };
            apply_shift_fields(&mut shift, &fields);
            shift.check().map_err(|e| UsageError(e.message))?;
            let s = ctx.db.open()?;
            require_department(s, &shift.department)?;
            s.schedule
                .add(&s.edit(), &shift, format!("add shift {id}"))?;
            s.persist()?;
            output::either(ctx.json, &shift, || {
                format!("added shift {id}: {}", shift.time())
            })
        }
        ShiftCommand::List {
            from,
            to,
            department,
        } => views::shift_list(ctx, from, to, department),
        ShiftCommand::Show { id } => views::shift_show(ctx, &id),
        ShiftCommand::Update { id, fields } => {
            let s = ctx.db.open()?;
            let mut shift = s
                .schedule
                .index()
                .shifts
                .get(&id)
                .cloned()
                .ok_or_else(|| not_found("shift", &id))?;
            let set = apply_shift_fields(&mut shift, &fields);
            shift.check().map_err(|e| UsageError(e.message))?;
            require_department(s, &shift.department)?;
            write_update(ctx.json, s, &shift, &set, "shift")
        }
        ShiftCommand::Remove { id, force } => {
            let s = ctx.db.open()?;
            let held: Vec<AssignmentKey> = s
                .schedule
                .index()
                .assignments_of_shift(&id)
                .map(|a| a.key())
                .collect();
            remove_with_assignments(ctx.json, s, Collection::Shifts, &id, held, force)
        }
    }
}

fn availability(ctx: &mut Context, cmd: AvailabilityCommand) -> anyhow::Result<()> {
    match cmd {
        AvailabilityCommand::Add {
            staff,
            from,
            to,
            kind,
            reason,
        } => {
            let span = LocalSpan::new(from, to).map_err(|e| UsageError(e.message))?;
            let kind = kind.into();
            let entry = Availability {
                id: Availability::derive_id(&staff, &span, kind),
                staff: staff.clone(),
                span,
                kind,
                reason: checked_lines("reason", reason)?,
            };
            let s = ctx.db.open()?;
            s.schedule.require(Collection::Staff, staff.as_str())?;
            let message = format!("add {} for {staff}: {span}", kind.as_str());
            s.schedule.add(&s.edit(), &entry, message.clone())?;
            s.persist()?;
            output::either(ctx.json, &entry, || {
                format!("added {} ({})", entry.id, message)
            })
        }
        AvailabilityCommand::List { staff } => {
            let r = ctx.db.read()?;
            let index = r.view().index();
            let list: Vec<&Availability> = match &staff {
                Some(id) => index.availability_of_staff(id).collect(),
                None => index.availability.values().collect(),
            };
            output::either(ctx.json, &list, || {
                views::table(
                    &["ID", "STAFF", "FROM", "TO", "KIND", "REASON"],
                    list.iter().map(|a| {
                        vec![
                            a.id.to_string(),
                            a.staff.to_string(),
                            shiftmesh_model::time::format_datetime(a.span.from),
                            shiftmesh_model::time::format_datetime(a.span.to),
                            a.kind.as_str().to_owned(),
                            a.reason.clone(),
                        ]
                    }),
                )
            })
        }
        AvailabilityCommand::Remove { id } => {
            let s = ctx.db.open()?;
            let entry = s
                .schedule
                .index()
                .availability
                .get(&id)
                .cloned()
                .with_context(|| format!("availability '{id}' does not exist"))?;
            let message = format!(
                "remove {} for {}: {}",
                entry.kind.as_str(),
                entry.staff,
                entry.span
            );
            s.schedule.remove(
                &s.edit(),
                Collection::Availability,
                id.as_str(),
                &[],
                message.clone(),
            )?;
            s.persist()?;
            output::either(ctx.json, &json!({"removed": id}), || message)
        }
    }
}
