//! The Gemini API in: `generateContent`, `streamGenerateContent` (SSE and
//! the JSON array), `countTokens` and the model list, with Google's key
//! headers and error shapes, against Gemini and other upstreams.

use aigw_mock_upstream::{Endpoint, Reply, Usage};
use http::Method;
use serde_json::{Value, json};

use crate::support::{Deployment, Resp, TestGateway, sse_events};

/// A provider and a model the default rules route to it.
const UPSTREAMS: &[(&str, &str)] = &[
    ("gemini", "gemini-1.5-flash"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("antigravity", "gemini-2.5-pro"),
];

fn request_body(text: &str) -> Value {
    json!({
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 128}
    })
}

/// The text of a `GenerateContentResponse` (or one stream chunk).
fn chunk_text(chunk: &Value) -> String {
    chunk["candidates"][0]["content"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["thought"] != true)
        .filter_map(|p| p["text"].as_str())
        .collect()
}

async fn post_gemini(gw: &TestGateway, path: &str, key: &str, body: &Value) -> Resp {
    gw.request(
        Method::POST,
        path,
        &[
            ("x-goog-api-key", key),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await
}

fn assert_google_error(resp: &Resp, status: u16, google_status: &str) -> String {
    assert_eq!(resp.status, status, "{}", resp.text());
    let err = resp.json();
    assert_eq!(err["error"]["code"], status, "{err}");
    assert_eq!(err["error"]["status"], google_status, "{err}");
    err["error"]["message"].as_str().unwrap().to_owned()
}

async fn every_method_against_every_upstream(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    for (i, (provider, _)) in UPSTREAMS.iter().enumerate() {
        let account = format!("gem-{provider}");
        gw.add_account_for(provider, &account).await;
        gw.mock.set_reply(
            &account,
            Reply::text(format!("reply from {provider}"))
                .with_usage(Usage::new(12 + i as u32, 4 + i as u32)),
        );
    }
    for (i, (provider, model)) in UPSTREAMS.iter().enumerate() {
        let account = format!("gem-{provider}");
        let body = request_body("hello");
        // Whole, under /v1beta and /v1.
        for prefix in ["/v1beta", "/v1"] {
            let case = format!("{provider} {prefix} generateContent");
            let before = gw.mock.count_for(&account);
            let resp = post_gemini(
                &gw,
                &format!("{prefix}/models/{model}:generateContent"),
                &key,
                &body,
            )
            .await;
            assert_eq!(resp.status, 200, "{case}: {}", resp.text());
            let reply = resp.json();
            assert_eq!(
                chunk_text(&reply),
                format!("reply from {provider}"),
                "{case}"
            );
            assert_eq!(
                reply["usageMetadata"]["promptTokenCount"],
                12 + i as u64,
                "{case}: {reply}"
            );
            assert_eq!(
                reply["usageMetadata"]["candidatesTokenCount"],
                4 + i as u64,
                "{case}: {reply}"
            );
            assert_eq!(gw.mock.count_for(&account), before + 1, "{case}");
        }
        // Streamed as SSE.
        let case = format!("{provider} streamGenerateContent?alt=sse");
        let resp = post_gemini(
            &gw,
            &format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
            &key,
            &body,
        )
        .await;
        assert_eq!(resp.status, 200, "{case}: {}", resp.text());
        assert_eq!(resp.headers["content-type"], "text/event-stream", "{case}");
        let chunks: Vec<Value> = sse_events(&resp.text()).into_iter().map(|e| e.1).collect();
        assert!(!chunks.is_empty(), "{case}");
        let text: String = chunks.iter().map(chunk_text).collect();
        assert_eq!(text, format!("reply from {provider}"), "{case}");
        let last = chunks.last().unwrap();
        assert_eq!(
            last["candidates"][0]["finishReason"], "STOP",
            "{case}: {last}"
        );
        assert_eq!(
            last["usageMetadata"]["candidatesTokenCount"],
            4 + i as u64,
            "{case}: {last}"
        );
        // Streamed as one JSON array, the key in `?key=`.
        let case = format!("{provider} streamGenerateContent (array)");
        let resp = gw
            .request(
                Method::POST,
                &format!("/v1beta/models/{model}:streamGenerateContent?key={key}"),
                &[("content-type", "application/json")],
                body.to_string(),
            )
            .await;
        assert_eq!(resp.status, 200, "{case}: {}", resp.text());
        assert_eq!(resp.headers["content-type"], "application/json", "{case}");
        let chunks: Vec<Value> = serde_json::from_slice(&resp.body)
            .unwrap_or_else(|e| panic!("{case}: not a JSON array ({e}): {}", resp.text()));
        let text: String = chunks.iter().map(chunk_text).collect();
        assert_eq!(text, format!("reply from {provider}"), "{case}");
    }
    gw.stop().await;
}

/// A Gemini upstream gets the client's body byte for byte; the model in the
/// path is percent-decoded before routing.
async fn gemini_upstream_gets_the_body_unchanged(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("gemini", "gem-pass").await;
    let raw = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"safetySettings":[],"x-unknown":{"kept":true}}"#;
    let resp = gw
        .request(
            Method::POST,
            "/v1beta/models/gemini%2D1.5%2Dflash:generateContent",
            &[("x-goog-api-key", &key)],
            raw,
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent = gw.mock.requests_for("gem-pass").pop().unwrap();
    assert_eq!(sent.body, raw.as_bytes(), "forwarded unchanged");
    assert!(
        sent.path
            .ends_with("/models/gemini-1.5-flash:generateContent"),
        "{}",
        sent.path
    );
    gw.stop().await;
}

async fn keys_and_bad_input_answer_in_google_shape(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("gemini", "gem-errs").await;
    let path = "/v1beta/models/gemini-1.5-flash:generateContent";
    let body = request_body("hi").to_string();
    // A bad key, in each place a Gemini client puts it, and none.
    for headers in [
        vec![("x-goog-api-key", "ak_wrong")],
        vec![("authorization", "Bearer ak_wrong")],
        vec![],
    ] {
        let resp = gw.request(Method::POST, path, &headers, body.clone()).await;
        assert_google_error(&resp, 401, "UNAUTHENTICATED");
    }
    let resp = gw
        .request(
            Method::POST,
            &format!("{path}?key=ak_wrong"),
            &[],
            body.clone(),
        )
        .await;
    assert_google_error(&resp, 401, "UNAUTHENTICATED");
    // The right key as a bearer token works too.
    let auth = format!("Bearer {key}");
    let resp = gw
        .request(
            Method::POST,
            path,
            &[("authorization", &auth)],
            body.clone(),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());

    // Missing or mistyped fields, and a model name too long to be one.
    let long = format!("/v1beta/models/{}:generateContent", "g".repeat(300));
    for (path, body, field) in [
        (path, json!({"generationConfig": {}}), "contents"),
        (path, json!({"contents": "hi"}), "contents"),
        (
            path,
            json!({"contents": [], "tools": {"functionDeclarations": []}}),
            "tools",
        ),
        (long.as_str(), request_body("hi"), "model"),
    ] {
        let resp = post_gemini(&gw, path, &key, &body).await;
        let message = assert_google_error(&resp, 400, "INVALID_ARGUMENT");
        assert!(message.contains(field), "{field}: {message}");
    }
    // Unknown methods and paths, and wrong HTTP methods.
    let resp = post_gemini(
        &gw,
        "/v1beta/models/gemini-1.5-flash:embedContent",
        &key,
        &request_body("hi"),
    )
    .await;
    assert_google_error(&resp, 404, "NOT_FOUND");
    let resp = gw
        .request(Method::GET, path, &[("x-goog-api-key", &key)], "")
        .await;
    assert_google_error(&resp, 405, "INVALID_ARGUMENT");
    assert_eq!(resp.headers["allow"], "POST");
    let resp = gw
        .request(
            Method::GET,
            "/v1beta/tunedModels",
            &[("x-goog-api-key", &key)],
            "",
        )
        .await;
    assert_google_error(&resp, 404, "NOT_FOUND");
    gw.stop().await;
}

async fn count_tokens_asks_the_upstream_or_estimates(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("gemini", "gem-count").await;
    gw.add_api_key_account("openai", "gem-count-oai").await;
    let body =
        json!({"contents": [{"role": "user", "parts": [{"text": "count these words please"}]}]});
    let raw = body.to_string();
    let resp = post_gemini(
        &gw,
        "/v1beta/models/gemini-1.5-flash:countTokens",
        &key,
        &body,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    // The mock counts a quarter of the bytes it received: the body as sent.
    assert_eq!(resp.json()["totalTokens"], (raw.len() / 4) as u64);
    let sent = gw.mock.requests_to(Endpoint::GeminiCountTokens);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, raw.as_bytes());

    let counted_by = |resp: &crate::support::Resp| {
        resp.headers
            .get("x-aigateway-token-count")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(counted_by(&resp).as_deref(), Some("exact"));

    // An OpenAI upstream has no counter: the gateway's estimate, marked so,
    // and nothing sent upstream.
    let resp = post_gemini(&gw, "/v1beta/models/gpt-4o:countTokens", &key, &body).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(counted_by(&resp).as_deref(), Some("estimate"));
    let estimate = resp.json()["totalTokens"].as_u64().unwrap();
    assert!((4..40).contains(&estimate), "{estimate}");
    assert_eq!(gw.mock.count_for("gem-count-oai"), 0);

    // An Anthropic upstream's own counter counts the translated request,
    // without the output settings it refuses.
    gw.add_api_key_account("anthropic", "gem-count-ant").await;
    let mut asked = body.clone();
    asked["generationConfig"] = json!({"maxOutputTokens": 64, "temperature": 0.2});
    let resp = post_gemini(
        &gw,
        "/v1beta/models/claude-sonnet-4-5:countTokens",
        &key,
        &asked,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(counted_by(&resp).as_deref(), Some("exact"));
    assert!(resp.json()["totalTokens"].as_u64().unwrap() > 0);
    let sent = gw.mock.requests_to(Endpoint::AnthropicCountTokens);
    assert_eq!(sent.len(), 1);
    let sent: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(sent["messages"][0]["role"], "user", "{sent}");
    assert!(sent.get("max_tokens").is_none(), "{sent}");
    assert!(sent.get("temperature").is_none(), "{sent}");
    // A countTokens body without contents names it.
    let resp = post_gemini(
        &gw,
        "/v1beta/models/gemini-1.5-flash:countTokens",
        &key,
        &json!({}),
    )
    .await;
    let message = assert_google_error(&resp, 400, "INVALID_ARGUMENT");
    assert!(message.contains("contents"), "{message}");
    gw.stop().await;
}

async fn model_list_in_google_shape(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("gemini", "gem-list").await;
    gw.add_api_key_account("openai", "gem-list-oai").await;
    let resp = gw
        .request(
            Method::GET,
            "/v1beta/models",
            &[("x-goog-api-key", &key)],
            "",
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let list = resp.json();
    let models = list["models"].as_array().expect("models array");
    assert!(!models.is_empty(), "{list}");
    for m in models {
        let name = m["name"].as_str().unwrap();
        assert!(name.starts_with("models/"), "{m}");
        assert_eq!(
            m["displayName"].as_str(),
            name.strip_prefix("models/"),
            "{m}"
        );
        let methods = m["supportedGenerationMethods"].as_array().unwrap();
        assert!(methods.contains(&json!("generateContent")), "{m}");
        assert!(methods.contains(&json!("streamGenerateContent")), "{m}");
    }
    let gemini = models
        .iter()
        .find(|m| m["name"].as_str().unwrap().starts_with("models/gemini"))
        .unwrap_or_else(|| panic!("no Gemini model in {list}"));
    assert!(
        gemini["supportedGenerationMethods"]
            .as_array()
            .unwrap()
            .contains(&json!("countTokens")),
        "{gemini}"
    );
    let name = gemini["name"].as_str().unwrap();
    let resp = gw
        .request(Method::GET, &format!("/v1beta/{name}?key={key}"), &[], "")
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["name"], name);
    let resp = gw
        .request(
            Method::GET,
            "/v1beta/models/no-such-model",
            &[("x-goog-api-key", &key)],
            "",
        )
        .await;
    assert_google_error(&resp, 404, "NOT_FOUND");
    let resp = gw
        .request(
            Method::GET,
            "/v1beta/models",
            &[("x-goog-api-key", "ak_bad")],
            "",
        )
        .await;
    assert_google_error(&resp, 401, "UNAUTHENTICATED");

    // The google-genai SDKs list and get models under /v1: Google's shapes
    // there for a Google client, OpenAI's list for anyone else.
    let google = gw
        .request(Method::GET, "/v1/models", &[("x-goog-api-key", &key)], "")
        .await;
    assert_eq!(google.status, 200, "{}", google.text());
    assert_eq!(google.json()["models"], list["models"]);
    let one = gw
        .request(
            Method::GET,
            &format!("/v1/{name}"),
            &[("x-goog-api-key", &key)],
            "",
        )
        .await;
    assert_eq!(one.json()["name"], name, "{}", one.text());
    let openai = gw
        .request(
            Method::GET,
            "/v1/models",
            &[("authorization", &format!("Bearer {key}"))],
            "",
        )
        .await;
    assert_eq!(openai.json()["object"], "list", "{}", openai.text());
    gw.stop().await;
}

deployment_tests!(
    every_method_against_every_upstream,
    gemini_upstream_gets_the_body_unchanged,
    keys_and_bad_input_answer_in_google_shape,
    count_tokens_asks_the_upstream_or_estimates,
    model_list_in_google_shape,
);
