//! A real browser for the page's tests, screenshots and benchmarks: Debian's Chromium, headless,
//! driven through ChromeDriver over the W3C WebDriver protocol (JSON over HTTP on loopback).
//! Only what the tests need: navigate, run a script, find and click, type, resize, screenshot.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// Where Debian puts the browser and its driver (`apt-get install chromium chromium-driver`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long ChromeDriver may take to answer after it starts.
const DRIVER_START_LIMIT: Duration = Duration::from_secs(30);
/// How often a wait asks the page again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// The element reference key of the WebDriver protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("{0} is missing; scripts/test.sh installs chromium and chromium-driver (apt-get)")]
    Missing(PathBuf),
    #[error("ChromeDriver: {0}")]
    Driver(String),
    #[error("the page: {0}")]
    Page(String),
    #[error("gave up after {0:?} waiting until {1}")]
    Timeout(Duration, String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, BrowserError>;

/// A headless Chromium with its own profile, closed (and its driver stopped) when dropped.
pub struct Browser {
    driver: Child,
    agent: ureq::Agent,
    session: String,
    base: String,
    _profile: tempfile::TempDir,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium `width` × `height` pixels wide.
    pub fn start(width: u32, height: u32) -> Result<Browser> {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(tool).exists() {
                return Err(BrowserError::Missing(tool.into()));
            }
        }
        let port = free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(120)))
                .build(),
        );
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir()?;
        let mut browser = Browser {
            driver,
            agent,
            session: String::new(),
            base,
            _profile: profile,
        };
        let started = Instant::now();
        while browser.call("GET", "/status", None).is_err() {
            if started.elapsed() > DRIVER_START_LIMIT {
                return Err(BrowserError::Driver("did not start".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The flags Chromium needs as root in a container with no network beyond loopback.
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let answer = browser.call("POST", "/session", Some(capabilities))?;
        browser.session = answer["sessionId"]
            .as_str()
            .ok_or_else(|| BrowserError::Driver(format!("no session in {answer}")))?
            .to_owned();
        Ok(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder().method(method).uri(&url);
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(body.to_string()),
            None => request.body(String::new()),
        }
        .map_err(|e| BrowserError::Driver(e.to_string()))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|e| BrowserError::Driver(e.to_string()))?;
        let status = response.status().as_u16();
        let answer: Value = response
            .body_mut()
            .read_json()
            .map_err(|e| BrowserError::Driver(e.to_string()))?;
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if status >= 400 {
            return Err(BrowserError::Page(
                value["message"].as_str().unwrap_or("an error").to_owned(),
            ));
        }
        Ok(value)
    }

    fn session(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) -> Result<()> {
        self.session("POST", "/url", Some(json!({"url": url})))
            .map(|_| ())
    }

    /// Runs a script in the page (`arguments[i]` are `args`) and returns what it returns.
    pub fn run(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.session(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Waits until `script` returns something truthy; returns it.
    pub fn wait_for(&self, what: &str, script: &str, limit: Duration) -> Result<Value> {
        let started = Instant::now();
        loop {
            let value = self.run(script, Vec::new())?;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return Ok(value);
            }
            if started.elapsed() > limit {
                return Err(BrowserError::Timeout(limit, what.to_owned()));
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// The WebDriver id of the first element `css` selects.
    fn find(&self, css: &str) -> Result<String> {
        let found = self.session(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        found[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| BrowserError::Driver(format!("no element id in {found}")))
    }

    /// Clicks the first element `css` selects, as a user would (scrolled into view first).
    pub fn click(&self, css: &str) -> Result<()> {
        let id = self.find(css)?;
        self.session("POST", &format!("/element/{id}/click"), Some(json!({})))
            .map(|_| ())
    }

    /// Types `text` into the first element `css` selects.
    pub fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let id = self.find(css)?;
        self.session(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .map(|_| ())
    }

    /// A PNG of one element (the part of the page `css` selects).
    pub fn element_screenshot(&self, css: &str) -> Result<Vec<u8>> {
        let id = self.find(css)?;
        let data = self.session("GET", &format!("/element/{id}/screenshot"), None)?;
        decode_png(&data)
    }

    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        self.session(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .map(|_| ())
    }

    /// A PNG of what the window shows.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        let data = self.session("GET", "/screenshot", None)?;
        decode_png(&data)
    }

    pub fn save_screenshot(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.screenshot()?)?;
        Ok(())
    }
}

fn decode_png(data: &Value) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(data.as_str().unwrap_or_default())
        .map_err(|e| BrowserError::Driver(e.to_string()))
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
