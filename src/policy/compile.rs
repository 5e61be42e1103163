//! Turning policy text into a validated [`Compiled`] set: parsing, ids, schema validation.
//!
//! Every problem names its file and, when Cedar reports a source span, its line and column, so
//! `naa-gateway policy check` output can be followed in an editor. Nothing here is run per request.

use std::{collections::HashMap, fmt, path::Path, str::FromStr};

use cedar_policy::{
    ActionConstraint, Effect, Entities, EntityUid, PolicyId, PolicySet, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;
use parking_lot::Mutex;

/// The schema every built-in or directory policy set is validated against, unless the
/// directory brings its own.
pub const BUILTIN_SCHEMA: &str = include_str!("../../policies/schema.cedarschema");

/// The built-in least-privilege policy.
pub const BUILTIN_POLICY: &str = include_str!("../../policies/default.cedar");

/// File name of the schema inside a policy directory.
pub const SCHEMA_FILE: &str = "schema.cedarschema";

/// One text file of a policy set.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Shown in problems and policy ids (a path, or `builtin:default.cedar`).
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// A schema and the policy files to validate against it.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The schema.
    pub schema: SourceFile,
    /// The `.cedar` files, in name order.
    pub policies: Vec<SourceFile>,
}

/// One problem with a policy set, located as precisely as Cedar allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File name.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong (and Cedar's help, if any).
    pub message: String,
}

/// A policy set that parsed and validated, ready to evaluate.
pub(crate) struct Compiled {
    pub(crate) policies: PolicySet,
    pub(crate) schema: Schema,
    /// For each action id (`ReadBody`): what a request for it needs, prepared once per load.
    pub(crate) actions: HashMap<String, ActionScope>,
    /// Whether any `permit` can apply to `WriteExtendedProperty`.
    pub(crate) may_write: bool,
    /// Validation warnings (they do not stop loading).
    pub(crate) warnings: Vec<Problem>,
    /// Where the set came from, for logs.
    pub(crate) origin: String,
}

/// What a request for one action is evaluated with.
pub(crate) struct ActionScope {
    /// The action's entity and those of its groups: all a request needs to evaluate
    /// `action in …`, so requests never pay for the rest of the hierarchy.
    /// Held as a ready store (hierarchy closed) that a request only adds its own entities to.
    pub(crate) lineage: Entities,
    /// The policies whose action scope can match this action. Cedar checks the scope before the
    /// conditions, so the others can neither permit, forbid nor fail for it: leaving them out
    /// changes no decision, reason or error, and saves evaluating them on every request.
    pub(crate) policies: PolicySet,
    /// `lineage` with a recent caller's `User` entity added, for the last few (user, tenant)
    /// pairs seen: adding the user costs more than copying the store. Dropped with the set.
    pub(crate) principals: Mutex<Vec<CachedPrincipal>>,
}

/// `lineage` plus the entity of one user of one tenant.
pub(crate) struct CachedPrincipal {
    pub(crate) user: String,
    pub(crate) tenant: String,
    pub(crate) entities: Entities,
}

// === impl Problem ===

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl Problem {
    fn whole_file(file: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_string(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

// === impl Sources ===

impl Sources {
    /// The embedded schema and default policy.
    pub fn builtin() -> Sources {
        Sources {
            schema: SourceFile {
                name: "builtin:schema.cedarschema".into(),
                text: BUILTIN_SCHEMA.into(),
            },
            policies: vec![SourceFile {
                name: "builtin:default.cedar".into(),
                text: BUILTIN_POLICY.into(),
            }],
        }
    }

    /// `dir/schema.cedarschema` and every `dir/*.cedar` (not subdirectories: `examples/` and
    /// `tests/` live beside the policies without being loaded).
    pub fn from_dir(dir: &Path) -> Result<Sources, Vec<Problem>> {
        let shown = dir.display().to_string();
        let entries =
            std::fs::read_dir(dir).map_err(|e| vec![Problem::whole_file(&shown, format!("cannot read: {e}"))])?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "cedar"))
            .collect();
        paths.sort();
        let mut problems = Vec::new();
        let schema_path = dir.join(SCHEMA_FILE);
        // Requests are built for the gateway's own vocabulary, so a directory without a schema
        // is validated against the built-in one.
        let schema = if schema_path.exists() {
            read(&schema_path).map_err(|p| problems.push(p)).ok()
        } else {
            Some(Sources::builtin().schema)
        };
        let policies: Vec<SourceFile> = paths
            .iter()
            .filter_map(|p| read(p).map_err(|e| problems.push(e)).ok())
            .collect();
        if paths.is_empty() {
            problems.push(Problem::whole_file(
                &shown,
                "no *.cedar files: every request would be denied",
            ));
        }
        match schema {
            Some(schema) if problems.is_empty() => Ok(Sources { schema, policies }),
            _ => Err(problems),
        }
    }
}

fn read(path: &Path) -> Result<SourceFile, Problem> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(SourceFile { name, text }),
        Err(e) => Err(Problem::whole_file(&name, format!("cannot read: {e}"))),
    }
}

// === compilation ===

/// Parses and validates `sources`; every problem is reported, not only the first.
pub(crate) fn compile(sources: &Sources, origin: String) -> Result<Compiled, Vec<Problem>> {
    let schema = parse_schema(&sources.schema)?;
    let mut problems = Vec::new();
    let mut set = PolicySet::new();
    // Which file each policy id came from, to locate validation errors.
    let mut files: HashMap<PolicyId, usize> = HashMap::new();
    for (index, file) in sources.policies.iter().enumerate() {
        match parse_file(file) {
            Ok(policies) => {
                for policy in policies {
                    let id = policy.id().clone();
                    if let Some(&first) = files.get(&id) {
                        problems.push(Problem::whole_file(
                            &file.name,
                            format!("policy id {id:?} is also used in {}", sources.policies[first].name),
                        ));
                        continue;
                    }
                    if let Err(e) = set.add(policy) {
                        problems.push(Problem::whole_file(&file.name, e.to_string()));
                        continue;
                    }
                    files.insert(id, index);
                }
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    let locate = |id: &PolicyId, d: &dyn Diagnostic| {
        let file = files.get(id).map(|&i| &sources.policies[i]);
        let (name, text) = file.map_or(("(unknown file)", ""), |f| (f.name.as_str(), f.text.as_str()));
        located(name, text, d, Some(id))
    };
    let errors: Vec<Problem> = result.validation_errors().map(|e| locate(e.policy_id(), e)).collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut warnings: Vec<Problem> = result.validation_warnings().map(|w| locate(w.policy_id(), w)).collect();
    if sources.schema.text.trim() != BUILTIN_SCHEMA.trim() {
        warnings.push(Problem::whole_file(
            &sources.schema.name,
            "differs from the gateway's built-in schema; the gateway describes requests in the built-in \
             vocabulary, so attributes only this schema declares are never set",
        ));
    }
    let actions = schema.action_entities().map_err(|e| {
        vec![Problem::whole_file(
            &sources.schema.name,
            format!("action entities: {e}"),
        )]
    })?;
    let may_write = may_write(&set, &actions);
    let actions = action_scopes(&set, &actions);
    Ok(Compiled {
        policies: set,
        schema,
        actions,
        may_write,
        warnings,
        origin,
    })
}

fn parse_schema(file: &SourceFile) -> Result<Schema, Vec<Problem>> {
    match Schema::from_cedarschema_str(&file.text) {
        Ok((schema, _warnings)) => Ok(schema),
        Err(e) => Err(diagnostics(&file.name, &file.text, &e)),
    }
}

/// The file's policies, each renamed to its `@id` annotation or `<file name>#<n>` (1-based).
fn parse_file(file: &SourceFile) -> Result<Vec<cedar_policy::Policy>, Vec<Problem>> {
    let set = PolicySet::from_str(&file.text).map_err(|e| diagnostics(&file.name, &file.text, &e))?;
    if set.num_of_templates() > 0 {
        return Err(vec![Problem::whole_file(
            &file.name,
            "policy templates (?principal/?resource slots) are not supported",
        )]);
    }
    let stem = Path::new(&file.name)
        .file_name()
        .map_or_else(|| file.name.clone(), |n| n.to_string_lossy().into_owned());
    // `PolicySet::from_str` names policies policy0, policy1, … in source order.
    let mut policies: Vec<_> = set.policies().cloned().collect();
    policies.sort_by_key(|p| {
        p.id()
            .to_string()
            .trim_start_matches("policy")
            .parse::<usize>()
            .unwrap_or(0)
    });
    Ok(policies
        .into_iter()
        .enumerate()
        .map(|(n, p)| {
            let id = p
                .annotation("id")
                .map_or_else(|| format!("{stem}#{}", n + 1), str::to_string);
            p.new_id(PolicyId::new(id))
        })
        .collect())
}

/// Every diagnostic in `d` (Cedar nests several in `related`), each located in `text`.
fn diagnostics(file: &str, text: &str, d: &dyn Diagnostic) -> Vec<Problem> {
    match d.related() {
        Some(related) => {
            let all: Vec<Problem> = related.flat_map(|r| diagnostics(file, text, r)).collect();
            if all.is_empty() {
                vec![located(file, text, d, None)]
            } else {
                all
            }
        }
        None => vec![located(file, text, d, None)],
    }
}

fn located(file: &str, text: &str, d: &dyn Diagnostic, policy: Option<&PolicyId>) -> Problem {
    let offset = d.labels().and_then(|mut l| l.next()).map(|l| l.offset());
    let (line, column) = match offset {
        Some(o) => {
            let (l, c) = line_column(text, o);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    let mut message = match policy {
        Some(id) => format!("policy {:?}: {d}", id.to_string()),
        None => d.to_string(),
    };
    if let Some(help) = d.help() {
        message.push_str(&format!(" (help: {help})"));
    }
    Problem {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Each action's id (`ReadBody`) → its entity and its ancestors' entities, and the policies
/// that can apply to it.
fn action_scopes(set: &PolicySet, actions: &Entities) -> HashMap<String, ActionScope> {
    actions
        .iter()
        .filter_map(|action| {
            let uid = action.uid();
            let mut lineage = vec![action.clone()];
            lineage.extend(
                actions
                    .iter()
                    .filter(|other| other.uid() != uid && actions.is_ancestor_of(&other.uid(), &uid))
                    .cloned(),
            );
            let lineage = Entities::from_entities(lineage, None).ok()?;
            let covers = |other: &EntityUid| *other == uid || actions.is_ancestor_of(other, &uid);
            let applicable = set.policies().filter(|p| match p.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(other) => covers(&other),
                ActionConstraint::In(others) => others.iter().any(covers),
            });
            let policies = PolicySet::from_policies(applicable.cloned()).ok()?;
            Some((
                uid.id().unescaped().to_string(),
                ActionScope {
                    lineage,
                    policies,
                    principals: Mutex::default(),
                },
            ))
        })
        .collect()
}

/// Conservative: true unless no `permit` can apply to `WriteExtendedProperty` by its scope.
/// A permit whose conditions can never hold still counts; asking Graph for more than needed
/// is safe, denying a write the policies allow is not.
fn may_write(set: &PolicySet, actions: &Entities) -> bool {
    let Ok(write) = EntityUid::from_str(r#"Action::"WriteExtendedProperty""#) else {
        return true;
    };
    let covers = |uid: &EntityUid| *uid == write || actions.is_ancestor_of(uid, &write);
    set.policies()
        .filter(|p| p.effect() == Effect::Permit)
        .any(|p| match p.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(uid) => covers(&uid),
            ActionConstraint::In(uids) => uids.iter().any(covers),
        })
}
