use super::*;

fn rest_of(graph: &str) -> serde_json::Value {
    let json = Json::parse(graph.as_bytes()).unwrap();
    let out = to_rest(json, None, &|c| format!("CTX<{c}>"));
    serde_json::from_slice(&out.to_vec()).unwrap()
}

#[test]
fn names_and_enums_follow_outlooks_casing() {
    let rest = rest_of(
        r#"{"id":"A","importance":"normal","inferenceClassification":"focused",
            "body":{"contentType":"html","content":"<p>x</p>"},"uniqueBody":{"contentType":"text","content":"x"},
            "sender":{"emailAddress":{"name":"N","address":"a@b"}},"flag":{"flagStatus":"notFlagged"},
            "toRecipients":[{"emailAddress":{"name":"T","address":"t@b"}}],"isRead":true}"#,
    );
    assert_eq!(rest["Id"], "A");
    assert_eq!(rest["Importance"], "Normal");
    assert_eq!(rest["InferenceClassification"], "Focused");
    assert_eq!(rest["Body"]["ContentType"], "HTML");
    assert_eq!(rest["Body"]["Content"], "<p>x</p>");
    assert_eq!(rest["UniqueBody"]["ContentType"], "Text");
    assert_eq!(rest["Sender"]["EmailAddress"]["Address"], "a@b");
    assert_eq!(rest["ToRecipients"][0]["EmailAddress"]["Name"], "T");
    assert_eq!(rest["Flag"]["FlagStatus"], "NotFlagged");
    assert_eq!(rest["IsRead"], true);
}

#[test]
fn an_attachments_mime_type_is_not_an_enum() {
    let rest = rest_of(
        r##"{"@odata.type":"#microsoft.graph.fileAttachment","@odata.mediaContentType":"text/html",
             "contentType":"text/html","name":"a.html","contentBytes":"eA=="}"##,
    );
    assert_eq!(rest["@odata.type"], "#Microsoft.OutlookServices.FileAttachment");
    assert_eq!(rest["ContentType"], "text/html");
    assert_eq!(rest["ContentBytes"], "eA==");
    assert!(rest.get("@odata.mediaContentType").is_none());
}

#[test]
fn extended_properties_use_property_id_and_value() {
    let rest = rest_of(
        r#"{"singleValueExtendedProperties@odata.context":"g","singleValueExtendedProperties":[{"id":"String 0x007D","value":"v"}],
            "internetMessageHeaders":[{"name":"X","value":"y"}]}"#,
    );
    assert_eq!(rest["SingleValueExtendedProperties"][0]["PropertyId"], "String 0x007D");
    assert_eq!(rest["SingleValueExtendedProperties"][0]["Value"], "v");
    assert_eq!(rest["SingleValueExtendedProperties@odata.context"], "CTX<g>");
    assert_eq!(rest["InternetMessageHeaders"][0]["Value"], "y");

    let back = to_graph(
        Json::parse(br#"{"SingleValueExtendedProperties":[{"PropertyId":"String 0x1","Value":"v"}]}"#).unwrap(),
        None,
    );
    assert_eq!(
        back.to_vec(),
        br#"{"singleValueExtendedProperties":[{"id":"String 0x1","value":"v"}]}"#.to_vec()
    );
}

#[test]
fn collections_keep_their_lowercase_value_wrapper() {
    let rest = rest_of(
        r##"{"@odata.context":"c","value":[{"@odata.type":"#microsoft.graph.itemAttachment","item":{"@odata.type":"#microsoft.graph.message","id":""}}]}"##,
    );
    assert_eq!(rest["@odata.context"], "CTX<c>");
    assert_eq!(
        rest["value"][0]["@odata.type"],
        "#Microsoft.OutlookServices.ItemAttachment"
    );
    assert_eq!(
        rest["value"][0]["Item"]["@odata.type"],
        "#Microsoft.OutlookServices.Message"
    );
    assert_eq!(rest["value"][0]["Item"]["Id"], "");
}

#[test]
fn unknown_names_follow_rests_rule_both_ways() {
    assert_eq!(rest_name(None, "someNewProperty"), "SomeNewProperty");
    assert_eq!(graph_name(None, "SomeNewProperty"), "someNewProperty");
    assert_eq!(graph_name(None, "subject"), "subject");
    assert_eq!(graph_name(None, "SUBJECT"), "subject");
    assert_eq!(
        rest_type("#microsoft.graph.calendarSharingMessage"),
        "#Microsoft.OutlookServices.CalendarSharingMessage"
    );
    assert_eq!(
        graph_type("Microsoft.OutlookServices.ItemAttachment").as_deref(),
        Some("microsoft.graph.itemAttachment")
    );
    assert_eq!(graph_type("Subject"), None);
}

#[test]
fn queries_are_translated_to_graph_names() {
    assert_eq!(
        graph_select("Subject, Body,SingleValueExtendedProperties"),
        "subject,body,singleValueExtendedProperties"
    );
    assert_eq!(
        graph_expand(
            "SingleValueExtendedProperties($filter=PropertyId eq 'String {00020329-0000-0000-C000-000000000046} Name Color' or PropertyId eq 'String 0x007D')"
        ),
        "singleValueExtendedProperties($filter=id eq 'String {00020329-0000-0000-C000-000000000046} Name Color' or id eq 'String 0x007D')"
    );
    assert_eq!(
        graph_expand("Microsoft.OutlookServices.ItemAttachment/Item"),
        "microsoft.graph.itemAttachment/item"
    );
    assert_eq!(
        graph_expand("Attachments($select=Name,Size)"),
        "attachments($select=name,size)"
    );
}

#[test]
fn context_fragments_move_to_rests_form() {
    assert_eq!(
        rest_context_fragment("users('0a9d')/messages/$entity"),
        "Me/Messages/$entity"
    );
    assert_eq!(
        rest_context_fragment("users('0a9d')/messages(subject,body)/$entity"),
        "Me/Messages(Subject,Body)/$entity"
    );
    assert_eq!(
        rest_context_fragment("users('0a9d')/messages('AAMk=')/attachments/$entity"),
        "Me/Messages('AAMk=')/Attachments/$entity"
    );
    assert_eq!(
        rest_context_fragment("users('0a9d')/messages('AAMk=')/singleValueExtendedProperties"),
        "Me/Messages('AAMk=')/SingleValueExtendedProperties"
    );
}
