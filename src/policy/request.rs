//! One authorization question in Cedar's terms: the entities, the request and the context.
//!
//! The gateway's [`Resource`] is mapped onto the schema's `Message`/`Attachment` attributes here
//! (property sets named, extensions lowercased), so policies never see wire-format variants.

use std::{
    collections::{HashMap, HashSet},
    str::FromStr,
    sync::LazyLock,
};

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression,
};

use parking_lot::Mutex;

use super::{
    Action, FrontEnd, Resource, ResourceKind,
    compile::{ActionScope, CachedPrincipal, Compiled},
};

/// How many (user, tenant) stores an action's scope keeps at most.
const PRINCIPAL_CACHE_ENTRIES: usize = 32;

/// How many contexts of the current second a [`ContextCache`] holds at most.
const CONTEXT_CACHE_ENTRIES: usize = 32;

/// GUID of PS_INTERNET_HEADERS (protocols.md §5.4).
const INTERNET_HEADERS_GUID: &str = "00020386-0000-0000-c000-000000000046";
/// GUID of PS_PUBLIC_STRINGS.
const PUBLIC_STRINGS_GUID: &str = "00020329-0000-0000-c000-000000000046";

/// The configured settings a decision sees as `context.settings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// PublicStrings name prefix; empty allows no name.
    pub public_strings_prefix: String,
    /// Attachment size limit in bytes.
    pub max_attachment_bytes: i64,
}

/// Everything one decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    /// Tenant GUID.
    pub tenant_id: &'a str,
    /// User object id.
    pub user: &'a str,
    /// Calling add-in's client id ("" when unknown).
    pub app: &'a str,
    /// What is to be done.
    pub action: Action,
    /// To what.
    pub resource: &'a Resource,
    /// Through which front end.
    pub front_end: FrontEnd,
    /// The tenant's settings.
    pub settings: &'a Settings,
    /// When, in Unix seconds.
    pub time: i64,
}

/// The Cedar outcome: allowed or not, the determining policy ids, evaluation errors.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) allowed: bool,
    pub(crate) policies: Vec<String>,
    pub(crate) errors: Vec<String>,
}

/// The contexts built during the most recent Unix second, so a burst of requests from the same
/// tenant, add-in and front end builds its `context` record once.
///
/// A context is a pure function of its inputs (tenant, app, front end, second, settings), every
/// one of which is part of an entry's key, so a cached context is exactly the one that would have
/// been built. Entries of an older second can never be hit again and are dropped when the second
/// changes; at most [`CONTEXT_CACHE_ENTRIES`] are held.
#[derive(Debug, Default)]
pub(crate) struct ContextCache {
    current: Mutex<CachedSecond>,
}

#[derive(Debug, Default)]
struct CachedSecond {
    time: i64,
    entries: Vec<CachedContext>,
}

#[derive(Debug)]
struct CachedContext {
    tenant_id: String,
    app: String,
    front_end: FrontEnd,
    settings: Settings,
    context: Context,
}

// === impl ContextCache ===

impl ContextCache {
    /// The context for `q`: the cached one when every input matches, else a freshly built one
    /// (remembered when it is for the newest second seen).
    fn get_or_build(&self, q: &Question<'_>, tenant: EntityUid, app: EntityUid) -> Result<Context, String> {
        if let Some(hit) = self.lookup(q) {
            return Ok(hit);
        }
        let context = context(q, tenant, app)?;
        self.remember(q, &context);
        Ok(context)
    }

    fn lookup(&self, q: &Question<'_>) -> Option<Context> {
        let current = self.current.lock();
        if current.time != q.time {
            return None;
        }
        current
            .entries
            .iter()
            .find(|e| {
                e.front_end == q.front_end && e.tenant_id == q.tenant_id && e.app == q.app && e.settings == *q.settings
            })
            .map(|e| e.context.clone())
    }

    fn remember(&self, q: &Question<'_>, context: &Context) {
        let mut current = self.current.lock();
        if q.time > current.time || current.entries.is_empty() {
            current.time = q.time;
            current.entries.clear();
        }
        // A request late for its second, or a full second, is simply not remembered.
        if q.time != current.time || current.entries.len() >= CONTEXT_CACHE_ENTRIES {
            return;
        }
        current.entries.push(CachedContext {
            tenant_id: q.tenant_id.to_string(),
            app: q.app.to_string(),
            front_end: q.front_end,
            settings: q.settings.clone(),
            context: context.clone(),
        });
    }

    /// The context for `q`, from the cache when `cached`, else freshly built (for tests that
    /// compare the two).
    #[cfg(test)]
    pub(super) fn context_for(&self, q: &Question<'_>, cached: bool) -> Result<Context, String> {
        let types = type_names()?;
        let (tenant, app) = (uid(&types.tenant, q.tenant_id), uid(&types.app, q.app));
        if cached {
            self.get_or_build(q, tenant, app)
        } else {
            context(q, tenant, app)
        }
    }

    /// Forgets every context.
    pub(crate) fn clear(&self) {
        self.current.lock().entries.clear();
    }
}

// === impl Action / FrontEnd ===

impl Action {
    /// Every action, in schema order.
    pub const ALL: [Action; 7] = [
        Action::ReadItem,
        Action::ReadBody,
        Action::ReadHeaders,
        Action::ReadMime,
        Action::ReadAttachment,
        Action::WriteExtendedProperty,
        Action::ConvertId,
    ];

    /// The action's id in the schema (`Action::"<name>"`).
    pub fn name(self) -> &'static str {
        match self {
            Action::ReadItem => "ReadItem",
            Action::ReadBody => "ReadBody",
            Action::ReadHeaders => "ReadHeaders",
            Action::ReadMime => "ReadMime",
            Action::ReadAttachment => "ReadAttachment",
            Action::WriteExtendedProperty => "WriteExtendedProperty",
            Action::ConvertId => "ConvertId",
        }
    }

    /// The action named `name` (as in the schema).
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl FrontEnd {
    /// `ews`, `rest` or `graph`, as policies see it in `context.front_end`.
    pub fn name(self) -> &'static str {
        match self {
            FrontEnd::Ews => "ews",
            FrontEnd::Rest => "rest",
            FrontEnd::Graph => "graph",
        }
    }

    /// The front end named `name`.
    pub fn from_name(name: &str) -> Option<FrontEnd> {
        [FrontEnd::Ews, FrontEnd::Rest, FrontEnd::Graph]
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

// === evaluation ===

/// Decides `q` against `compiled`. `strict` also checks the request and entities against the
/// schema (decision tables do, to catch mistakes in them; the gateway builds both itself).
/// The context comes from `cache` when given and it holds one built from the same inputs.
pub(crate) fn evaluate(
    authorizer: &Authorizer,
    compiled: &Compiled,
    q: &Question<'_>,
    strict: bool,
    cache: Option<&ContextCache>,
) -> Result<Outcome, String> {
    let schema = strict.then_some(&compiled.schema);
    let types = type_names()?;
    let tenant = uid(&types.tenant, q.tenant_id);
    let user = uid(&types.user, q.user);
    let app = uid(&types.app, q.app);
    let (resource_uid, resource_entity) = resource_entity(q)?;
    let scope = compiled
        .actions
        .get(q.action.name())
        .ok_or_else(|| format!("the schema does not declare action {}", q.action.name()))?;
    let entities = with_principal(scope, q, &user, &tenant)?
        .add_entities([resource_entity], None)
        .map_err(|e| format!("entities: {e}"))?;
    if let Some(schema) = schema {
        // Decision tables: the same entities, checked against the schema.
        Entities::from_entities(
            entities
                .iter()
                .filter(|e| e.uid().type_name().to_string() != "Action")
                .cloned(),
            Some(schema),
        )
        .map_err(|e| format!("entities: {e}"))?;
    }
    let context = match cache {
        Some(cache) => cache.get_or_build(q, tenant, app)?,
        None => context(q, tenant, app)?,
    };
    let action = uid(&types.action, q.action.name());
    let request = Request::new(user, action, resource_uid, context, schema).map_err(|e| format!("request: {e}"))?;
    Ok(outcome(authorizer.is_authorized(&request, &scope.policies, &entities)))
}

/// The action's lineage with the caller's `User` entity (child of its `Tenant`) added.
///
/// Only entities whose attributes or ancestors a policy can read are stored: `Tenant` and `App`
/// have neither (they are compared, never dereferenced), and each one costs time to index.
/// Adding to a store whose hierarchy is already closed repairs only what is new, and a recent
/// caller's store is reused whole, keyed by both ids that go into it.
fn with_principal(
    scope: &ActionScope,
    q: &Question<'_>,
    user: &EntityUid,
    tenant: &EntityUid,
) -> Result<Entities, String> {
    let cached = scope
        .principals
        .lock()
        .iter()
        .find(|p| p.user == q.user && p.tenant == q.tenant_id)
        .map(|p| p.entities.clone());
    if let Some(entities) = cached {
        return Ok(entities);
    }
    let entities = scope
        .lineage
        .clone()
        .add_entities(
            [Entity::new_no_attrs(user.clone(), HashSet::from([tenant.clone()]))],
            None,
        )
        .map_err(|e| format!("entities: {e}"))?;
    let mut principals = scope.principals.lock();
    if principals.len() >= PRINCIPAL_CACHE_ENTRIES {
        principals.remove(0);
    }
    principals.push(CachedPrincipal {
        user: q.user.to_string(),
        tenant: q.tenant_id.to_string(),
        entities: entities.clone(),
    });
    Ok(entities)
}

fn outcome(response: cedar_policy::Response) -> Outcome {
    let diagnostics = response.diagnostics();
    Outcome {
        allowed: response.decision() == cedar_policy::Decision::Allow,
        policies: diagnostics.reason().map(ToString::to_string).collect(),
        errors: diagnostics.errors().map(ToString::to_string).collect(),
    }
}

/// The entity type names of the schema, parsed once: parsing one costs more than a decision.
struct TypeNames {
    user: EntityTypeName,
    tenant: EntityTypeName,
    app: EntityTypeName,
    action: EntityTypeName,
    message: EntityTypeName,
    attachment: EntityTypeName,
}

static TYPE_NAMES: LazyLock<Result<TypeNames, String>> = LazyLock::new(|| {
    let parse = |kind: &str| EntityTypeName::from_str(kind).map_err(|e| format!("{kind}: {e}"));
    Ok(TypeNames {
        user: parse("User")?,
        tenant: parse("Tenant")?,
        app: parse("App")?,
        action: parse("Action")?,
        message: parse("Message")?,
        attachment: parse("Attachment")?,
    })
});

fn type_names() -> Result<&'static TypeNames, String> {
    TYPE_NAMES.as_ref().map_err(Clone::clone)
}

fn uid(kind: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
}

fn context(q: &Question<'_>, tenant: EntityUid, app: EntityUid) -> Result<Context, String> {
    let settings = RestrictedExpression::new_record([
        (
            "public_strings_prefix".to_string(),
            RestrictedExpression::new_string(q.settings.public_strings_prefix.clone()),
        ),
        (
            "max_attachment_bytes".to_string(),
            RestrictedExpression::new_long(q.settings.max_attachment_bytes),
        ),
    ])
    .map_err(|e| format!("context: {e}"))?;
    Context::from_pairs([
        (
            "front_end".to_string(),
            RestrictedExpression::new_string(q.front_end.name().to_string()),
        ),
        ("tenant".to_string(), RestrictedExpression::new_entity_uid(tenant)),
        ("app".to_string(), RestrictedExpression::new_entity_uid(app)),
        ("time".to_string(), RestrictedExpression::new_long(q.time)),
        (
            "utc_hour".to_string(),
            RestrictedExpression::new_long(q.time.rem_euclid(86_400) / 3600),
        ),
        // 1970-01-01 was a Thursday: +3 makes Monday 0.
        (
            "utc_weekday".to_string(),
            RestrictedExpression::new_long((q.time.div_euclid(86_400) + 3).rem_euclid(7)),
        ),
        ("settings".to_string(), settings),
    ])
    .map_err(|e| format!("context: {e}"))
}

fn resource_entity(q: &Question<'_>) -> Result<(EntityUid, Entity), String> {
    let r = q.resource;
    let types = type_names()?;
    let mut attrs: HashMap<String, RestrictedExpression> = HashMap::new();
    if let Some(size) = r.size {
        attrs.insert(
            "size".into(),
            RestrictedExpression::new_long(i64::try_from(size).unwrap_or(i64::MAX)),
        );
    }
    let kind = match r.kind {
        ResourceKind::Message => {
            if let Some(set) = &r.property_set {
                attrs.insert("property_set".into(), string(property_set_name(set)));
            }
            if let Some(name) = &r.property_name {
                attrs.insert("property_name".into(), string(name.clone()));
                let prefix = &q.settings.public_strings_prefix;
                let has_prefix = !prefix.is_empty() && name.starts_with(prefix.as_str());
                attrs.insert(
                    "property_name_has_prefix".into(),
                    RestrictedExpression::new_bool(has_prefix),
                );
            }
            (&types.message, "message")
        }
        ResourceKind::Attachment => {
            attachment_attrs(r, &mut attrs);
            (&types.attachment, "attachment")
        }
    };
    let uid = uid(kind.0, kind.1);
    let entity = Entity::new(uid.clone(), attrs, HashSet::new()).map_err(|e| format!("resource: {e}"))?;
    Ok((uid, entity))
}

fn attachment_attrs(r: &Resource, attrs: &mut HashMap<String, RestrictedExpression>) {
    if let Some(ct) = &r.content_type {
        attrs.insert("content_type".into(), string(ct.trim().to_ascii_lowercase()));
    }
    if let Some(inline) = r.is_inline {
        attrs.insert("is_inline".into(), RestrictedExpression::new_bool(inline));
    }
    if let Some(kind) = &r.attachment_kind {
        attrs.insert("kind".into(), string(kind.trim().to_ascii_lowercase()));
    }
    if let Some(name) = &r.name {
        attrs.insert("name".into(), string(name.clone()));
        attrs.insert("extension".into(), string(extension(name)));
    }
}

fn string(s: String) -> RestrictedExpression {
    RestrictedExpression::new_string(s)
}

/// `report.PDF` → `pdf`; `archive.tar.gz` → `gz`; `README` or `.bashrc` → "".
pub(crate) fn extension(name: &str) -> String {
    // Trailing dots and spaces are ignored by Windows, so `evil.exe.` is still an .exe.
    let name = name.trim_end_matches(['.', ' ']);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// The schema's name for a property set given by name or GUID (braces and case ignored).
pub(crate) fn property_set_name(set: &str) -> String {
    let bare = set
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase();
    if bare == "internetheaders" || bare == INTERNET_HEADERS_GUID {
        "InternetHeaders".into()
    } else if bare == "publicstrings" || bare == PUBLIC_STRINGS_GUID {
        "PublicStrings".into()
    } else {
        bare
    }
}
