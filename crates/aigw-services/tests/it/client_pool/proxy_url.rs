//! Proxy URL validation, and credentials that never print.

use aigw_services::client_pool::{Egress, PoolError, ProxyScheme, ValidProxyUrl};

#[test]
fn supported_schemes_parse_with_default_ports() {
    let cases = [
        ("http://proxy.example", ProxyScheme::Http, 80),
        ("https://proxy.example", ProxyScheme::Https, 443),
        ("socks5://proxy.example", ProxyScheme::Socks5, 1080),
        ("socks5h://proxy.example:9050", ProxyScheme::Socks5h, 9050),
        ("  http://user:pw@10.0.0.1:3128/  ", ProxyScheme::Http, 3128),
    ];
    for (input, scheme, port) in cases {
        let url = ValidProxyUrl::parse(input).unwrap();
        assert_eq!(url.scheme(), scheme, "{input}");
        assert_eq!(url.port(), port, "{input}");
    }
    let with_user = ValidProxyUrl::parse("http://user:pw@10.0.0.1:3128").unwrap();
    assert_eq!(with_user.username(), Some("user"));
    assert_eq!(with_user.host(), "10.0.0.1");
}

#[test]
fn malformed_and_unsupported_urls_are_rejected_with_typed_errors() {
    type IsExpected = fn(&PoolError) -> bool;
    let cases: [(&str, IsExpected); 12] = [
        ("not a url", |e| {
            matches!(e, PoolError::MalformedProxyUrl(_))
        }),
        ("", |e| matches!(e, PoolError::MalformedProxyUrl(_))),
        ("http://", |e| {
            matches!(
                e,
                PoolError::MalformedProxyUrl(_) | PoolError::MissingProxyHost
            )
        }),
        ("http://proxy:99999", |e| {
            matches!(e, PoolError::MalformedProxyUrl(_))
        }),
        ("socks4://proxy:1080", |e| {
            matches!(e, PoolError::UnsupportedProxyScheme)
        }),
        ("ftp://proxy:21", |e| {
            matches!(e, PoolError::UnsupportedProxyScheme)
        }),
        ("socks5:///nohost", |e| {
            matches!(e, PoolError::MissingProxyHost)
        }),
        ("http://proxy:0", |e| {
            matches!(e, PoolError::InvalidProxyPort)
        }),
        ("http://proxy:8080/path", |e| {
            matches!(e, PoolError::UnexpectedProxyUrlPart("path"))
        }),
        ("http://proxy:8080?x=1", |e| {
            matches!(e, PoolError::UnexpectedProxyUrlPart("query"))
        }),
        ("http://proxy:8080#f", |e| {
            matches!(e, PoolError::UnexpectedProxyUrlPart("fragment"))
        }),
        ("http://:pw@proxy:8080", |e| {
            matches!(e, PoolError::InvalidProxyCredentials)
        }),
    ];
    for (input, expected) in cases {
        match ValidProxyUrl::parse(input) {
            Err(error) => assert!(expected(&error), "{input:?} gave {error:?}"),
            Ok(url) => panic!("{input:?} was accepted as {url}"),
        }
    }
}

#[test]
fn socks5_credentials_longer_than_255_bytes_are_rejected() {
    let long = "p".repeat(256);
    let error = ValidProxyUrl::parse(&format!("socks5://user:{long}@proxy:1080")).unwrap_err();
    assert!(matches!(error, PoolError::InvalidProxyCredentials));
    // HTTP basic auth has no such limit.
    assert!(ValidProxyUrl::parse(&format!("http://user:{long}@proxy:8080")).is_ok());
}

#[test]
fn password_never_appears_in_display_or_debug() {
    let secret = "Sup3r%2FSecret";
    let url =
        ValidProxyUrl::parse(&format!("socks5h://alice:{secret}@proxy.example:1080")).unwrap();
    let egress = Egress::Proxy(url.clone());
    for shown in [
        url.to_string(),
        format!("{url:?}"),
        egress.to_string(),
        format!("{egress:?}"),
    ] {
        assert!(!shown.contains("Sup3r"), "password shown: {shown}");
        assert!(
            shown.contains("alice"),
            "username kept for operators: {shown}"
        );
    }
    assert_eq!(url.to_string(), "socks5h://alice:****@proxy.example:1080");
    assert!(url.has_credentials());
}

#[test]
fn errors_never_echo_the_url() {
    let inputs = [
        "socks4://alice:Hidden-Pw-1@proxy:1080",
        "http://alice:Hidden-Pw-1@proxy:8080/path",
        "http://alice:Hidden-Pw-1@proxy:0",
        "alice:Hidden-Pw-1@proxy:8080",
        "http://alice:Hidden-Pw-1@",
    ];
    for input in inputs {
        let error = ValidProxyUrl::parse(input).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("Hidden-Pw-1"), "{input} leaked in {shown}");
    }
}

#[test]
fn an_invalid_proxy_url_is_never_a_direct_egress() {
    assert_eq!(Egress::for_proxy_url(None).unwrap(), Egress::Direct);
    assert!(Egress::for_proxy_url(Some("socks4://proxy:1080")).is_err());
    assert!(Egress::for_proxy_url(Some("")).is_err());
    let egress = Egress::for_proxy_url(Some("http://proxy:3128")).unwrap();
    assert_eq!(egress.proxy().map(ValidProxyUrl::port), Some(3128));
}
