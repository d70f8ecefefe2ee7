//! The web client's pages as a browser requests them (the web tests and `web-bench`): one session cookie kept between requests,
//! forms posted with the CSRF token of the last page and the site's own `Origin`, redirects
//! not followed (the tests look at them).

use std::sync::Mutex;

use reqwest::{Client, redirect::Policy};

/// A browser without a browser.
#[derive(Debug)]
pub struct WebClient {
    http: Client,
    pub base: String,
    cookie: Mutex<String>,
    csrf: Mutex<String>,
}

/// One answer: status, body and where it redirects.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The value of the first `<input name="{name}" value="…">`.
    pub fn input(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_owned())
    }

    /// The text of the element with `id`, up to its next tag.
    pub fn by_id(&self, id: &str) -> Option<String> {
        let marker = format!("id=\"{id}\"");
        let at = self.body.find(&marker)?;
        let start = at + self.body[at..].find('>')? + 1;
        let end = self.body[start..].find('<')?;
        Some(self.body[start..start + end].trim().to_owned())
    }
}

impl WebClient {
    pub fn new(base: String) -> Self {
        Self {
            http: Client::builder()
                .redirect(Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("http client"),
            base,
            cookie: Mutex::new(String::new()),
            csrf: Mutex::new(String::new()),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let cookie = self.cookie.lock().unwrap().clone();
        let request = if cookie.is_empty() {
            request
        } else {
            request.header("cookie", cookie)
        };
        let response = request.send().await.expect("the web client answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if let Some(set) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            *self.cookie.lock().unwrap() = set.split(';').next().unwrap_or_default().to_owned();
        }
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        let page = Page {
            status,
            body,
            location,
            headers,
        };
        if let Some(token) = page.input("csrf") {
            *self.csrf.lock().unwrap() = token;
        }
        page
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// `GET path` with these headers and no session cookie (a navigation from elsewhere).
    pub async fn send_with(&self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut request = self.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let saved = std::mem::take(&mut *self.cookie.lock().unwrap());
        let page = self.send(request).await;
        *self.cookie.lock().unwrap() = saved;
        page
    }

    /// Posts a form with the last page's CSRF token, from the site's own origin.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.lock().unwrap().clone();
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        self.post_raw(path, &form, &self.base.clone()).await
    }

    /// Posts exactly these fields with this `Origin`.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)], origin: &str) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("origin", origin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }

    /// Signs in through the sign-in page; returns where it sends the person.
    pub async fn sign_in(&self, login: &str, password: &str) -> Page {
        self.get("/login").await;
        self.post("/login", &[("login", login), ("password", password)])
            .await
    }
}
