//! Authorization: may this caller do this to this message or attachment? Cedar, pure, deny by default.
//!
//! Policies are data: `schema.cedarschema` plus `*.cedar` files from `policy.dir`, or the
//! built-in least-privilege set (`policies/default.cedar`) when no directory is configured.
//! They are validated against the schema at load; a set that fails validation is refused.
//! [`PolicyEngine::authorize`] does no I/O: it reads the current set (an `Arc` swapped
//! atomically by [`PolicyEngine::reload`], on SIGHUP or from the admin listener) and asks Cedar.
//! Nothing is allowed unless a `permit` matches and no `forbid` does; every decision is logged
//! with the ids of the policies that made it.

mod compile;
mod request;
mod table;

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use cedar_policy::Authorizer;
use parking_lot::RwLock;
use serde::Deserialize;

pub use compile::{BUILTIN_POLICY, BUILTIN_SCHEMA, Problem, SCHEMA_FILE, SourceFile, Sources};
pub use request::{Question, Settings};
pub use table::{CaseResult, TableReport, run_tables};

use crate::{auth::Caller, config::Config};

/// The front end a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontEnd {
    /// EWS SOAP.
    Ews,
    /// Outlook REST v2.0.
    Rest,
    /// Graph-shaped.
    Graph,
}

/// What the gateway is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read an item's properties (not its body).
    ReadItem,
    /// Read an item's body.
    ReadBody,
    /// Read internet message headers.
    ReadHeaders,
    /// Read the MIME content.
    ReadMime,
    /// Read an attachment.
    ReadAttachment,
    /// Write an extended property.
    WriteExtendedProperty,
    /// Convert an id between formats.
    ConvertId,
}

/// What the action is done to, with the attributes a rule may need.
#[derive(Debug, Clone, Default)]
pub struct Resource {
    /// `message` or `attachment`.
    pub kind: ResourceKind,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Attachment content type.
    pub content_type: Option<String>,
    /// Attachment is inline.
    pub is_inline: Option<bool>,
    /// Attachment kind: `file`, `item` or `reference`.
    pub attachment_kind: Option<String>,
    /// Attachment file name.
    pub name: Option<String>,
    /// For property writes: the property set (`InternetHeaders`, `PublicStrings`, or a GUID).
    pub property_set: Option<String>,
    /// For property writes: the property name.
    pub property_name: Option<String>,
}

/// Kinds of resources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResourceKind {
    /// A message.
    #[default]
    Message,
    /// An attachment.
    Attachment,
}

/// The outcome of one authorization question.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// Ids of the policies that decided (for logs): the matching `permit`s when allowed, the
    /// matching `forbid`s when denied by one, empty when denied because nothing permits.
    pub policies: Vec<String>,
}

/// Per-tenant overrides of the policy settings (`[policy.tenants."<tenant GUID>"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// Overrides `policy.public_strings_prefix`.
    pub public_strings_prefix: Option<String>,
    /// Overrides `policy.max_attachment_bytes`.
    pub max_attachment_bytes: Option<u64>,
}

/// What a successful load or `policy check` found.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Where the policies came from (a directory, or `built-in default policy`).
    pub origin: String,
    /// Ids of the loaded policies.
    pub policy_ids: Vec<String>,
    /// Whether any policy can permit `WriteExtendedProperty`.
    pub may_write: bool,
    /// Validation warnings (they do not prevent loading).
    pub warnings: Vec<Problem>,
}

/// Evaluates the loaded policy set.
pub struct PolicyEngine {
    /// The configured directory, or `None` for the built-in set.
    dir: Option<PathBuf>,
    settings: SettingsTable,
    current: RwLock<Arc<compile::Compiled>>,
    authorizer: Authorizer,
    /// Contexts built in the current second, reused by requests with the same inputs.
    contexts: request::ContextCache,
}

/// The settings of every configured tenant, resolved once at load.
struct SettingsTable {
    default: Settings,
    tenants: HashMap<String, Settings>,
}

// === impl Decision ===

impl Decision {
    /// The policies as one string for logs: `read-item, read-body` or `default deny`.
    pub fn reason(&self) -> String {
        if self.policies.is_empty() {
            if self.allowed {
                "(none)".into()
            } else {
                "default deny (no permit matched)".into()
            }
        } else {
            self.policies.join(", ")
        }
    }
}

// === impl PolicyEngine ===

impl PolicyEngine {
    /// Loads the configured policies (`policy.dir`, or the built-in default policy) and validates
    /// them against their schema; every problem is returned as `file:line:column: message`.
    pub fn load(config: &Config) -> Result<PolicyEngine, Vec<String>> {
        let dir = config.policy.dir.clone();
        let compiled = compile_from(dir.as_deref()).map_err(to_strings)?;
        log_loaded(&compiled);
        Ok(PolicyEngine {
            dir,
            settings: SettingsTable::from_config(config),
            current: RwLock::new(Arc::new(compiled)),
            authorizer: Authorizer::new(),
            contexts: request::ContextCache::default(),
        })
    }

    /// Re-reads and re-validates the policies; the new set replaces the current one atomically.
    /// A set with any problem is refused (and logged) and the current one stays in force.
    pub fn reload(&self) -> Result<(), Vec<String>> {
        match compile_from(self.dir.as_deref()) {
            Ok(compiled) => {
                log_loaded(&compiled);
                let could_write = self.may_write();
                if compiled.may_write && !could_write {
                    // The Graph scopes were chosen at start-up from the policies then in force.
                    tracing::warn!(
                        "the reloaded policies allow writes; if the gateway started with read-only policies it \
                         holds Mail.Read only: restart it so Graph grants Mail.ReadWrite"
                    );
                }
                *self.current.write() = Arc::new(compiled);
                // Contexts do not depend on the policies; starting afresh keeps a reload simple
                // to reason about.
                self.contexts.clear();
                Ok(())
            }
            Err(problems) => {
                let problems = to_strings(problems);
                for p in &problems {
                    tracing::error!(problem = %p, "policy reload refused; the previous policies stay in force");
                }
                Err(problems)
            }
        }
    }

    /// Reloads on every SIGHUP until the engine is dropped. Call once, inside a Tokio runtime;
    /// the signal handler is installed before this returns.
    pub fn spawn_sighup_reload(self: &Arc<Self>) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hangups = match signal(SignalKind::hangup()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; policies reload only through the admin endpoint");
                    return;
                }
            };
            let weak = Arc::downgrade(self);
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    let Some(engine) = weak.upgrade() else { break };
                    tracing::info!("SIGHUP: reloading policies");
                    let _ = engine.reload();
                }
            });
        }
    }

    /// Decides one request; never does I/O. Logs the decision and the policies behind it.
    pub fn authorize(&self, caller: &Caller, action: Action, resource: &Resource, front_end: FrontEnd) -> Decision {
        let question = Question {
            tenant_id: &caller.tenant_id,
            user: &caller.oid,
            app: caller.client_app.as_deref().unwrap_or(""),
            action,
            resource,
            front_end,
            settings: self.settings.for_tenant(&caller.tenant_id),
            time: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        let decision = self.decide(&question);
        if decision.allowed {
            tracing::debug!(action = action.name(), front_end = front_end.name(), policies = %decision.reason(), "policy allowed");
        } else {
            tracing::info!(
                action = action.name(), front_end = front_end.name(), tenant = %caller.tenant_id,
                policies = %decision.reason(), "policy denied"
            );
        }
        decision
    }

    /// Decides a fully described question (benchmarks and diagnostics use this directly).
    pub fn decide(&self, question: &Question<'_>) -> Decision {
        let compiled = Arc::clone(&self.current.read());
        match request::evaluate(&self.authorizer, &compiled, question, false, Some(&self.contexts)) {
            Ok(outcome) => {
                for e in &outcome.errors {
                    tracing::warn!(error = %e, "a policy could not be evaluated and was skipped");
                }
                Decision {
                    allowed: outcome.allowed,
                    policies: outcome.policies,
                }
            }
            Err(e) => {
                // Only an id Cedar cannot represent gets here; refusing is the safe answer.
                tracing::warn!(error = %e, "authorization request could not be built; denied");
                Decision {
                    allowed: false,
                    policies: Vec::new(),
                }
            }
        }
    }

    /// Whether any loaded policy can permit `WriteExtendedProperty` (for some principal). When
    /// not, the gateway needs only `Mail.Read` from Graph.
    pub fn may_write(&self) -> bool {
        self.current.read().may_write
    }

    /// What is loaded now.
    pub fn summary(&self) -> Summary {
        summary(&self.current.read())
    }

    /// The settings policies see for tenant `tid`.
    pub fn settings_for(&self, tid: &str) -> &Settings {
        self.settings.for_tenant(tid)
    }
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("origin", &self.current.read().origin)
            .field("may_write", &self.may_write())
            .finish_non_exhaustive()
    }
}

/// Validates `dir` (or the built-in set) like a load would, without building an engine.
pub fn check(dir: Option<&std::path::Path>) -> Result<Summary, Vec<Problem>> {
    compile_from(dir).map(|c| summary(&c))
}

fn compile_from(dir: Option<&std::path::Path>) -> Result<compile::Compiled, Vec<Problem>> {
    match dir {
        Some(dir) => compile::compile(&Sources::from_dir(dir)?, dir.display().to_string()),
        None => compile::compile(&Sources::builtin(), "built-in default policy".into()),
    }
}

fn summary(c: &compile::Compiled) -> Summary {
    let mut policy_ids: Vec<String> = c.policies.policies().map(|p| p.id().to_string()).collect();
    policy_ids.sort();
    Summary {
        origin: c.origin.clone(),
        policy_ids,
        may_write: c.may_write,
        warnings: c.warnings.clone(),
    }
}

fn log_loaded(c: &compile::Compiled) {
    for w in &c.warnings {
        tracing::warn!(warning = %w, "policy validation warning");
    }
    tracing::info!(
        origin = %c.origin, policies = c.policies.num_of_policies(), may_write = c.may_write,
        "policies loaded"
    );
}

fn to_strings(problems: Vec<Problem>) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

// === impl SettingsTable ===

impl SettingsTable {
    fn from_config(config: &Config) -> SettingsTable {
        let p = &config.policy;
        let default = Settings {
            public_strings_prefix: p.public_strings_prefix.clone(),
            max_attachment_bytes: i64::try_from(p.max_attachment_bytes).unwrap_or(i64::MAX),
        };
        let tenants = p
            .tenants
            .iter()
            .map(|(tid, t)| (tid.to_ascii_lowercase(), default.overridden(t)))
            .collect();
        SettingsTable { default, tenants }
    }

    fn for_tenant(&self, tid: &str) -> &Settings {
        if self.tenants.is_empty() {
            return &self.default;
        }
        self.tenants.get(&tid.to_ascii_lowercase()).unwrap_or(&self.default)
    }
}

impl Settings {
    /// These settings with `t`'s overrides applied.
    pub fn overridden(&self, t: &TenantSettings) -> Settings {
        Settings {
            public_strings_prefix: t
                .public_strings_prefix
                .clone()
                .unwrap_or_else(|| self.public_strings_prefix.clone()),
            max_attachment_bytes: t
                .max_attachment_bytes
                .map_or(self.max_attachment_bytes, |m| i64::try_from(m).unwrap_or(i64::MAX)),
        }
    }
}

impl Default for Settings {
    /// The gateway's defaults (`Gateway` prefix, 35 MB).
    fn default() -> Self {
        let p = crate::config::PolicyConfig::default();
        Settings {
            public_strings_prefix: p.public_strings_prefix,
            max_attachment_bytes: i64::try_from(p.max_attachment_bytes).unwrap_or(i64::MAX),
        }
    }
}

#[cfg(test)]
mod tests;
