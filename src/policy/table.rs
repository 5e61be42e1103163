//! Decision tables: `tests/*.toml` beside the policies, run by `naa-gateway policy test`.
//!
//! Each `[[case]]` names an action, the resource's attributes and the expected decision
//! (optionally the policies expected to decide). Cases are checked against the schema, so a
//! misspelt attribute fails the case instead of silently testing nothing.

use std::path::{Path, PathBuf};

use cedar_policy::Authorizer;
use serde::Deserialize;

use super::{
    Action, FrontEnd, Problem, Resource, ResourceKind, Settings, TenantSettings,
    compile::{self, Compiled, Sources},
    request::{self, Question},
};

/// Tenant of a case that names none.
const DEFAULT_TENANT: &str = "00000000-0000-0000-0000-0000000000aa";
/// Time of a case that names none: 2026-01-01T00:00:00Z.
const DEFAULT_TIME: i64 = 1_767_225_600;

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// Table file.
    pub file: String,
    /// The case's name.
    pub name: String,
    /// Whether the decision was the expected one.
    pub passed: bool,
    /// What was decided and by which policies (and, on failure, what was expected).
    pub detail: String,
}

/// Every case of every table in a directory.
#[derive(Debug, Clone, Default)]
pub struct TableReport {
    /// Results in file and case order.
    pub results: Vec<CaseResult>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default)]
    settings: TenantSettings,
    #[serde(default, rename = "case")]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    action: String,
    expect: Expect,
    #[serde(default)]
    policies: Option<Vec<String>>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    app: Option<String>,
    #[serde(default)]
    front_end: Option<String>,
    /// RFC 3339, e.g. `2026-03-01T09:00:00Z`.
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    settings: Option<TenantSettings>,
    #[serde(default)]
    resource: CaseResource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Allow,
    Deny,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseResource {
    size: Option<u64>,
    content_type: Option<String>,
    is_inline: Option<bool>,
    kind: Option<String>,
    name: Option<String>,
    property_set: Option<String>,
    property_name: Option<String>,
}

// === impl TableReport ===

impl TableReport {
    /// Number of failed cases.
    pub fn failures(&self) -> usize {
        self.results.iter().filter(|r| !r.passed).count()
    }
}

/// Loads the policies of `dir` and runs every `dir/tests/*.toml`; problems with the policies
/// or with a table file (not a failing case) are errors.
pub fn run_tables(dir: &Path) -> Result<TableReport, Vec<Problem>> {
    let compiled = compile::compile(&Sources::from_dir(dir)?, dir.display().to_string())?;
    let files = table_files(&dir.join("tests"));
    if files.is_empty() {
        return Err(vec![Problem {
            file: dir.join("tests").display().to_string(),
            line: None,
            column: None,
            message: "no *.toml decision tables".into(),
        }]);
    }
    let authorizer = Authorizer::new();
    let mut report = TableReport::default();
    let mut problems = Vec::new();
    for file in files {
        let name = file.display().to_string();
        match read_table(&file) {
            Ok(table) => {
                let base = Settings::default().overridden(&table.settings);
                for case in &table.cases {
                    report
                        .results
                        .push(run_case(&authorizer, &compiled, &name, &base, case));
                }
            }
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() { Ok(report) } else { Err(problems) }
}

fn table_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn read_table(path: &Path) -> Result<Table, Problem> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Problem {
        file: file.clone(),
        line: None,
        column: None,
        message: format!("cannot read: {e}"),
    })?;
    toml::from_str(&text).map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => {
                let (l, c) = compile::line_column(&text, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        Problem {
            file,
            line,
            column,
            message: e.message().to_string(),
        }
    })
}

fn run_case(authorizer: &Authorizer, compiled: &Compiled, file: &str, base: &Settings, case: &Case) -> CaseResult {
    let result = |passed: bool, detail: String| CaseResult {
        file: file.to_string(),
        name: case.name.clone(),
        passed,
        detail,
    };
    let Some(action) = Action::from_name(&case.action) else {
        return result(false, format!("unknown action {:?}", case.action));
    };
    let front_end = case.front_end.as_deref().unwrap_or("graph");
    let Some(front_end) = FrontEnd::from_name(front_end) else {
        return result(false, format!("unknown front_end {front_end:?} (ews, rest or graph)"));
    };
    let time = match case.time.as_deref().map(parse_time).transpose() {
        Ok(t) => t.unwrap_or(DEFAULT_TIME),
        Err(e) => return result(false, e),
    };
    let settings = case
        .settings
        .as_ref()
        .map_or_else(|| base.clone(), |s| base.overridden(s));
    let resource = case.resource.to_resource(action);
    let question = Question {
        tenant_id: case.tenant.as_deref().unwrap_or(DEFAULT_TENANT),
        user: case.user.as_deref().unwrap_or("user"),
        app: case.app.as_deref().unwrap_or(""),
        action,
        resource: &resource,
        front_end,
        settings: &settings,
        time,
    };
    match request::evaluate(authorizer, compiled, &question, true, None) {
        Err(e) => result(false, e),
        Ok(outcome) => {
            let decided = if outcome.allowed { Expect::Allow } else { Expect::Deny };
            let mut policies = outcome.policies.clone();
            policies.sort();
            let by = if policies.is_empty() {
                "no policy".to_string()
            } else {
                policies.join(", ")
            };
            let word = |e: Expect| if e == Expect::Allow { "allow" } else { "deny" };
            let mut detail = format!("{} by {by}", word(decided));
            if !outcome.errors.is_empty() {
                detail.push_str(&format!("; evaluation errors: {}", outcome.errors.join("; ")));
            }
            let policies_ok = case.policies.as_ref().is_none_or(|want| {
                let mut want = want.clone();
                want.sort();
                want == policies
            });
            let passed = decided == case.expect && policies_ok;
            if !passed {
                let want = case
                    .policies
                    .as_ref()
                    .map(|p| format!(" by {}", p.join(", ")))
                    .unwrap_or_default();
                detail = format!("expected {}{want}, got {detail}", word(case.expect));
            }
            result(passed, detail)
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` → Unix seconds.
fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("time {s:?} is not of the form 2026-03-01T09:00:00Z");
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u16>().ok()).ok_or_else(bad);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let date = time::Date::from_calendar_date(i32::from(year), month, u8::try_from(day).map_err(|_| bad())?)
        .map_err(|_| bad())?;
    let time = time::Time::from_hms(
        u8::try_from(hour).map_err(|_| bad())?,
        u8::try_from(minute).map_err(|_| bad())?,
        u8::try_from(second).map_err(|_| bad())?,
    )
    .map_err(|_| bad())?;
    Ok(date.with_time(time).assume_utc().unix_timestamp())
}

impl CaseResource {
    fn to_resource(&self, action: Action) -> Resource {
        Resource {
            kind: if action == Action::ReadAttachment {
                ResourceKind::Attachment
            } else {
                ResourceKind::Message
            },
            size: self.size,
            content_type: self.content_type.clone(),
            is_inline: self.is_inline,
            attachment_kind: self.kind.clone(),
            name: self.name.clone(),
            property_set: self.property_set.clone(),
            property_name: self.property_name.clone(),
        }
    }
}
