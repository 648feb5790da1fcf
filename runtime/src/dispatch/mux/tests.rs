use super::*;
use crate::secrets::SecretValue;

#[test]
fn the_parser_follows_the_event_stream_rules_across_chunks() {
    let mut p = SseParser::default();
    let mut events = p.feed(b": keep-alive\n\nid: 1\nevent: mes").unwrap();
    assert!(events.is_empty());
    events.extend(p.feed(b"sage\ndata: {\"a\":\r\ndata: 1}\r\n\r\n").unwrap());
    events.extend(
        p.feed(b"data: no id\n\nevent: result\nid: 2\ndata:x\n\n")
            .unwrap(),
    );
    assert_eq!(
        events,
        [
            SseEvent {
                id: Some("1".into()),
                event: "message".into(),
                data: "{\"a\":\n1}".into()
            },
            SseEvent {
                id: Some("1".into()),
                event: "message".into(),
                data: "no id".into()
            },
            SseEvent {
                id: Some("2".into()),
                event: "result".into(),
                data: "x".into()
            },
        ]
    );
    // An event without data is no event.
    assert!(p.feed(b"event: status\n\n").unwrap().is_empty());
    let mut huge = SseParser::default();
    assert!(huge.feed(&vec![b'a'; MAX_EVENT_BYTES + 1]).is_err());
    assert!(SseParser::default().feed(b"data: \xff\n\n").is_err());
}

#[test]
fn a_gateway_comes_from_its_config_and_never_prints_its_token() {
    let o = json!({ "kind": "AgentGatewayConfig",
        "metadata": { "name": "mux", "namespace": crate::names::org_namespace("acme"),
                      "labels": { "kradle.a5c.ai/org": "acme" } },
        "spec": { "gatewayUrl": "https://mux.example/", "reconnectPolicy": { "maxRetries": 2, "backoffMs": 50 },
                  "auth": { "secretRef": { "name": "mux-auth", "key": "token" } } } });
    let mut g = Gateway::from_object(&o).unwrap();
    assert_eq!(g.url, "https://mux.example");
    assert_eq!((g.max_retries, g.backoff), (2, Duration::from_millis(50)));
    assert_eq!(
        g.token_ref,
        Some((
            crate::names::org_namespace("acme"),
            "mux-auth".into(),
            "token".into()
        ))
    );
    g.token = Some(SecretValue::new("s3cr3t-value"));
    assert!(!format!("{g:?}").contains("s3cr3t"));
    assert_eq!(safe_id(&json!("run-1.a_b")), Some("run-1.a_b".into()));
    for bad in [json!("../x"), json!(""), json!("a/b"), json!(3)] {
        assert_eq!(safe_id(&bad), None, "{bad}");
    }
}
