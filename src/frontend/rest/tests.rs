use super::*;

#[test]
fn rest_queries_become_graph_queries() {
    let q = graph_query(Some(
        "$select=Subject,Body&$expand=SingleValueExtendedProperties($filter=PropertyId%20eq%20'String%200x007D')&foo=bar",
    ))
    .unwrap();
    assert_eq!(q.select.as_deref(), Some("subject,body"));
    assert_eq!(
        q.to_graph(),
        "?$select=subject,body&$expand=singleValueExtendedProperties($filter=id%20eq%20%27String%200x007D%27)"
    );
    assert_eq!(graph_query(None).unwrap(), Query::default());
    assert_eq!(Query::default().to_graph(), "");
    assert!(matches!(graph_query(Some("$top=5")), Err(Failure::BadRequest { .. })));
}

#[test]
fn the_base_url_is_the_one_the_caller_used() {
    let mut h = HeaderMap::new();
    assert_eq!(origin_of(&h), "http://localhost");
    h.insert("host", HeaderValue::from_static("gw.contoso.com:8443"));
    assert_eq!(origin_of(&h), "http://gw.contoso.com:8443");
    h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    h.insert("x-forwarded-host", HeaderValue::from_static("mail.contoso.com, inner"));
    assert_eq!(origin_of(&h), "https://mail.contoso.com");
    h.insert("x-forwarded-host", HeaderValue::from_static("evil\"/x"));
    assert_eq!(origin_of(&h), "https://gw.contoso.com:8443");
}

#[test]
fn odata_ids_are_placed_after_the_context() {
    let mut json = Json::parse(br#"{"@odata.context":"c","Id":"1"}"#).unwrap();
    insert_after(&mut json, "@odata.context", "@odata.id", "u".into());
    assert_eq!(
        json.to_vec(),
        br#"{"@odata.context":"c","@odata.id":"u","Id":"1"}"#.to_vec()
    );
}
