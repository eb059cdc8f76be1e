//! Input the gateway does not trust: model names that would change an
//! upstream URL.

use aigw_mock_upstream::Endpoint;
use serde_json::json;

use crate::support::{Deployment, TestGateway};

async fn a_gemini_model_name_cannot_change_the_upstream_url(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let key = gw.issue_key().await;
    gw.add_api_key_account("gemini", "gem-url").await;
    let names = [
        ("gemini-x#frag", "gemini-x%23frag"),
        (
            "gemini-x?key=injected&a=",
            "gemini-x%3Fkey%3Dinjected%26a%3D",
        ),
        (
            "gemini-x/../../../files?pageSize=1&",
            "gemini-x%2F..%2F..%2F..%2Ffiles%3FpageSize%3D1%26",
        ),
        ("gemini-x%3F", "gemini-x%253F"),
    ];
    for stream in [false, true] {
        for (model, encoded) in names {
            gw.mock.clear();
            let resp = gw
                .post(
                    "/v1/chat/completions",
                    &key,
                    json!({"model": model, "stream": stream,
                           "messages": [{"role": "user", "content": "hi"}]}),
                )
                .await;
            let seen = gw.mock.requests();
            assert_eq!(seen.len(), 1, "{model}: {}", resp.text());
            let req = &seen[0];
            let action = if stream {
                "streamGenerateContent"
            } else {
                "generateContent"
            };
            assert_eq!(
                req.path,
                format!("/v1beta/models/{encoded}:{action}"),
                "{model}"
            );
            let expected_query = stream.then_some("alt=sse");
            assert_eq!(req.query.as_deref(), expected_query, "{model}");
            let endpoint = if stream {
                Endpoint::GeminiStream
            } else {
                Endpoint::GeminiGenerate
            };
            assert_eq!(req.endpoint, endpoint, "{model}");
            assert_eq!(req.account_key.as_deref(), Some("gem-url"), "{model}");
        }
    }
    gw.stop().await;
}

deployment_tests!(a_gemini_model_name_cannot_change_the_upstream_url);
