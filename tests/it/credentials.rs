//! Each client credential kind reaches the simulated Entra ID as Entra expects.

use naa_gateway::sandbox::SandboxCredential;

use crate::support::{Options, spawn_app_with};

#[tokio::test]
async fn every_credential_kind_completes_an_exchange() {
    for (credential, expected) in [
        (SandboxCredential::Secret, "secret"),
        (SandboxCredential::Certificate, "certificate_rs256"),
        (SandboxCredential::CertificatePs256, "certificate_ps256"),
        (SandboxCredential::Federated, "federated"),
    ] {
        let app = spawn_app_with(Options {
            credential,
            ..Options::default()
        })
        .await;
        let alice = app.alice().to_string();
        let token = app.token_for(&alice).await;
        let id = app.first_message(&alice)["rest_id"].as_str().unwrap().to_string();
        let res = app.get_message(&token, &id, "?$select=subject").await;
        assert_eq!(res.status(), 200, "{credential:?}: {}", res.text().await.unwrap());
        let requests = app.sims.entra.token_requests();
        let last = requests.last().expect("a token request");
        assert_eq!(last.client_auth.as_deref(), Some(expected), "{credential:?}");
        assert_eq!(last.tenant, app.seed().tenant_id, "the caller's tenant, never common");
    }
}
