//! Cost of one authorization decision with the built-in default policy.
//!
//! Run with `cargo bench --bench policy`.

use criterion::{Criterion, criterion_group, criterion_main};
use figment::providers::Format as _;
use naa_gateway::policy::{Action, FrontEnd, PolicyEngine, Question, Resource, ResourceKind, Settings};

fn engine() -> PolicyEngine {
    let figment = figment::Figment::new()
        .merge(figment::providers::Toml::string(naa_gateway::config::DEFAULTS))
        .merge(figment::providers::Serialized::defaults(serde_json::json!({
            "entra": {
                "client_id": "00000000-0000-0000-0000-0000000000c1",
                "allowed_tenants": ["*"],
                "credential": { "kind": "secret", "secret": { "value": "bench" } },
            }
        })));
    let config = naa_gateway::config::Config::from_figment(figment).unwrap_or_else(|e| panic!("{e}"));
    PolicyEngine::load(&config).unwrap_or_else(|e| panic!("{e:?}"))
}

fn decisions(c: &mut Criterion) {
    let engine = engine();
    let settings = Settings::default();
    let attachment = Resource {
        kind: ResourceKind::Attachment,
        size: Some(2 << 20),
        content_type: Some("application/pdf".into()),
        is_inline: Some(false),
        attachment_kind: Some("file".into()),
        name: Some("report.pdf".into()),
        ..Resource::default()
    };
    let write = Resource {
        property_set: Some("{00020329-0000-0000-C000-000000000046}".into()),
        property_name: Some("GatewayTag".into()),
        ..Resource::default()
    };
    let question = |action, resource| Question {
        tenant_id: "00000000-0000-0000-0000-0000000000aa",
        user: "4d6f7a2e-0000-4000-8000-000000000001",
        app: "00000000-0000-0000-0000-0000000000a1",
        action,
        resource,
        front_end: FrontEnd::Ews,
        settings: &settings,
        time: 1_767_225_600,
    };
    let read = question(Action::ReadAttachment, &attachment);
    let patch = question(Action::WriteExtendedProperty, &write);
    let mime = question(Action::ReadMime, &write);
    assert!(engine.decide(&read).allowed && engine.decide(&patch).allowed && !engine.decide(&mime).allowed);
    c.bench_function("policy/read_attachment_allowed", |b| b.iter(|| engine.decide(&read)));
    c.bench_function("policy/write_property_allowed", |b| b.iter(|| engine.decide(&patch)));
    c.bench_function("policy/read_mime_denied", |b| b.iter(|| engine.decide(&mime)));
}

criterion_group!(benches, decisions);
criterion_main!(benches);
