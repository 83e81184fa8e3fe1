use super::*;
use crate::client::Client;

fn engine() -> &'static Engine {
    Box::leak(Box::new(
        Engine::new(cordon_core::Policy::default()).expect("default engine"),
    ))
}

#[test]
fn openapi_describes_every_route_and_no_other() {
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let routes = routes();
    for (method, path, _) in &routes {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing from openapi.json"
        );
    }
    for (path, ops) in paths {
        for method in ops.as_object().expect("operations").keys() {
            assert!(
                routes.iter().any(|(m, p, _)| m == method && p == path),
                "openapi.json documents {method} {path}, which is not served"
            );
        }
    }
}

#[test]
fn tokens_compare_whole() {
    assert!(constant_time_eq(b"secret", b"secret"));
    assert!(!constant_time_eq(b"secret", b"secreT"));
    assert!(!constant_time_eq(b"secret", b"secret2"));
    assert!(!constant_time_eq(b"", b"x"));
}

/// A handler that panics answers 500 with a JSON error, and the server goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_500_not_a_dead_server() {
    let (state, _, _stop) = build(engine(), Options::default()).expect("state");
    let mut routes = routes();
    routes.push(("get", "/boom", get(|| async { panic!("boom") as &str })));
    let app = app(routes, state);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let answers = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(addr, None).expect("connect");
        let boom = c.get("/boom").expect("boom");
        let health = c.get("/healthz").expect("healthz");
        (boom, health)
    })
    .await
    .expect("client");
    assert_eq!(answers.0.status, 500);
    assert!(answers.0.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("internal error")));
    assert_eq!(answers.1.status, 200);
}
