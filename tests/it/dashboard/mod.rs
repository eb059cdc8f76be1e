//! The web dashboard: HTTP-level checks of its security (cookies, CSRF,
//! headers, roles, sessions across instances) in `http.rs`, and a real
//! headless Chromium driving it over WebDriver in `browser.rs`.

mod browser;
mod http;

use std::collections::BTreeMap;

use aigateway::domain::Role;
use aigateway::services::admin::users::CreateUser;
use hyper::Method;

use crate::support::{ADMIN_PASSWORD, Resp, TestGateway};

/// The cookies one browser holds, sent with every request.
#[derive(Default, Clone)]
pub struct Jar {
    cookies: BTreeMap<String, String>,
}

impl Jar {
    fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, resp: &Resp) {
        for value in resp.headers.get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let (pair, attrs) = value.split_once(';').unwrap_or((value, ""));
            let (name, v) = pair.split_once('=').unwrap();
            if v.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), v.to_owned());
            }
        }
    }

    /// A GET as a browser on the dashboard's origin sends it.
    pub async fn get(&mut self, gw: &TestGateway, path: &str) -> Resp {
        let cookie = self.header();
        let resp = gw
            .request(Method::GET, path, &[("cookie", &cookie)], "")
            .await;
        self.keep(&resp);
        resp
    }

    /// A form POST from the dashboard's own origin, plus `extra` headers.
    pub async fn post(
        &mut self,
        gw: &TestGateway,
        path: &str,
        form: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Resp {
        let cookie = self.header();
        let origin = format!("http://{}", gw.addr);
        let body = serde_urlencoded::to_string(form).unwrap();
        let mut headers = vec![
            ("cookie", cookie.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ];
        for (k, v) in extra {
            headers.retain(|(name, _)| name != k);
            headers.push((k, v));
        }
        let resp = gw.request(Method::POST, path, &headers, body).await;
        self.keep(&resp);
        resp
    }

    /// Signs in through the form; the answer to the POST.
    pub async fn sign_in(&mut self, gw: &TestGateway, username: &str, password: &str) -> Resp {
        let form = self.get(gw, "/ui/signin").await;
        let binding = hidden(&form.text(), "_signin");
        self.post(
            gw,
            "/ui/signin",
            &[
                ("_signin", &binding),
                ("username", username),
                ("password", password),
            ],
            &[],
        )
        .await
    }

    /// A signed-in admin's jar.
    pub async fn admin(gw: &TestGateway) -> Self {
        let mut jar = Self::default();
        let resp = jar.sign_in(gw, "admin", ADMIN_PASSWORD).await;
        assert_eq!(resp.status, 303, "{}", resp.text());
        jar
    }

    /// The form token of the page at `path`.
    pub async fn csrf(&mut self, gw: &TestGateway, path: &str) -> String {
        let page = self.get(gw, path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        hidden(&page.text(), "_csrf")
    }
}

/// The value of the hidden field `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Creates a management user with `role`.
pub async fn user(gw: &TestGateway, username: &str, role: Role) {
    gw.runtime
        .admin()
        .create_user(&CreateUser {
            username: username.to_owned(),
            password: format!("{username}-password"),
            role,
        })
        .await
        .unwrap();
}
