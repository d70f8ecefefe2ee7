//! A headless Chromium for the web client's tests, driven through Debian's `chromedriver` with
//! the W3C WebDriver protocol (JSON over HTTP on loopback). The few commands the tests use are
//! spoken directly with the HTTP client the tests already have, rather than through a WebDriver
//! crate that would bring a second HTTP stack.
//!
//! A machine without `chromedriver` skips the browser tests (the README's test command needs
//! only Rust) unless `HP_BROWSER_TESTS=1` says they must run, as `.ci/run` does.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether the browser tests must run (CI), rather than be skipped where Chromium is missing.
pub fn required() -> bool {
    std::env::var("HP_BROWSER_TESTS").is_ok_and(|v| v == "1")
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// One headless Chromium with its chromedriver; both end when it is dropped.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts Chromium `width` × `height` CSS pixels, in Chinese. `Ok(None)` when there is no
    /// chromedriver and the tests are not required.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Option<Self>> {
        let (Some(driver_bin), Some(chromium)) = (which("chromedriver"), which("chromium")) else {
            if required() {
                bail!("HP_BROWSER_TESTS=1 but chromedriver or chromium is not on PATH");
            }
            eprintln!("skipped: no chromedriver/chromium (HP_BROWSER_TESTS=1 requires them)");
            return Ok(None);
        };
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let profile = tempfile::tempdir()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Self {
            http,
            session: String::new(),
            driver,
            _profile: profile,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .http
                .get(format!("{base}/status"))
                .send()
                .await
                .ok()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("chromedriver did not start within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--lang=zh-CN".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let created = browser
            .http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args,
                    "prefs": {"intl.accept_languages": "zh-CN,zh"}},
            }}}))
            .send()
            .await?
            .json::<Value>()
            .await?;
        let id = created["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no WebDriver session: {created}"))?;
        browser.session = format!("{base}/session/{id}");
        browser
            .command(
                reqwest::Method::POST,
                "/timeouts",
                json!({"script": 60_000, "pageLoad": 30_000, "implicit": 0}),
            )
            .await?;
        Ok(Some(browser))
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if !body.is_null() {
            request = request.json(&body);
        }
        let answer: Value = request.send().await?.json().await?;
        if let Some(error) = answer["value"]["error"].as_str() {
            bail!(
                "WebDriver {path}: {error}: {}",
                answer["value"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            );
        }
        Ok(answer["value"].clone())
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await
            .map(drop)
    }

    /// The page's address.
    pub async fn url(&self) -> anyhow::Result<String> {
        let v = self
            .command(reqwest::Method::GET, "/url", Value::Null)
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The first element that `css` matches.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        let v = self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await
            .with_context(|| format!("finding {css}"))?;
        Ok(Element(
            v[ELEMENT]
                .as_str()
                .with_context(|| format!("{css}: no element"))?
                .to_owned(),
        ))
    }

    /// How many elements `css` matches.
    pub async fn count(&self, css: &str) -> anyhow::Result<usize> {
        let v = self
            .command(
                reqwest::Method::POST,
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await?;
        Ok(v.as_array().map(Vec::len).unwrap_or(0))
    }

    /// The visible text of the first element `css` matches.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let e = self.find(css).await?;
        let v = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{}/text", e.0),
                Value::Null,
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// A property of the first element `css` matches (`value` of an input).
    pub async fn property(&self, css: &str, name: &str) -> anyhow::Result<String> {
        let e = self.find(css).await?;
        let v = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{}/property/{name}", e.0),
                Value::Null,
            )
            .await?;
        Ok(match v {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        })
    }

    /// Types `text` into the field `css` matches, after clearing it.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let e = self.find(css).await?;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/clear", e.0),
            json!({}),
        )
        .await?;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            json!({ "text": text }),
        )
        .await
        .map(drop)
    }

    /// Clicks the first element `css` matches (a submit button: the next page has loaded when
    /// this returns).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let e = self.find(css).await?;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            json!({}),
        )
        .await
        .map(drop)
    }

    /// Clicks the first element `css` matches and waits until the page it leads to has loaded
    /// (a form's answer, a link): the old page is marked first, and the wait ends when a page
    /// without the mark is complete.
    pub async fn submit(&self, css: &str) -> anyhow::Result<()> {
        self.execute("window.__hpOld = true; return true;", json!([]))
            .await?;
        self.click(css).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let loaded = self
                .execute(
                    "return !window.__hpOld && document.readyState === 'complete';",
                    json!([]),
                )
                .await
                .unwrap_or(Value::Bool(false));
            if loaded == Value::Bool(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{css}: no new page within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a script in the page and returns its result.
    pub async fn execute(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs a script that calls its last argument with the result.
    pub async fn execute_async(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.command(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Forgets every cookie of the current site (a browser that was closed, a session lost).
    pub async fn delete_cookies(&self) -> anyhow::Result<()> {
        self.command(reqwest::Method::DELETE, "/cookie", Value::Null)
            .await
            .map(drop)
    }

    /// Resizes the window (CSS pixels).
    pub async fn resize(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await
        .map(drop)
    }

    /// A PNG of the whole page as it is laid out at the window's width.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        use base64::Engine as _;
        let v = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await?;
        Ok(base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default())?)
    }

    /// Ends the session.
    pub async fn quit(self) {
        let _ = self.command(reqwest::Method::DELETE, "", Value::Null).await;
    }
}
