//! Driving a real browser in the tests: headless Chromium through `chromedriver`, with
//! `fantoccini`. Debian's `chromium` and `chromium-driver` packages provide both; `.ci/run`
//! installs them.

#![allow(clippy::unwrap_used, clippy::panic)] // Fixtures: a failure is a failing test.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use serde_json::{Value, json};

/// The environment variable naming the chromedriver; set, a missing driver or browser fails
/// the test instead of skipping it.
pub const DRIVER_ENV: &str = "OAUTH_ENDPOINTS_TEST_CHROMEDRIVER";
/// Where Debian's `chromium-driver` puts the driver.
pub const DEFAULT_DRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian's `chromium` puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long any one wait for the browser or the driver may take before the test fails.
/// Generous: a loaded 2-core machine starts Chromium slowly.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The chromedriver to use, or `None` (the test is skipped, with a notice) when it or the
/// browser is absent and `OAUTH_ENDPOINTS_TEST_CHROMEDRIVER` is unset. With the variable set,
/// a missing driver or browser is a failure: CI sets it, so it cannot pass by skipping.
pub fn find_driver(test: &str) -> Option<PathBuf> {
    let required = std::env::var_os(DRIVER_ENV).filter(|value| !value.is_empty());
    let driver = required
        .clone()
        .map_or_else(|| PathBuf::from(DEFAULT_DRIVER), PathBuf::from);
    let missing: Vec<&Path> = [driver.as_path(), Path::new(CHROMIUM)]
        .into_iter()
        .filter(|path| !path.is_file())
        .collect();
    if missing.is_empty() {
        return Some(driver);
    }
    if required.is_some() {
        panic!(
            "{DRIVER_ENV} is set, but {missing:?} is missing: install Debian's `chromium` and \
             `chromium-driver` packages"
        );
    }
    // Straight to the process's stderr: the harness captures `eprintln!` and shows it only for
    // failing tests, and this notice is for a passing one.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED the real-browser test of {test}: {missing:?} is missing. Install Debian's `chromium` and `chromium-driver` packages to run it (set \
         {DRIVER_ENV}=/path/to/chromedriver to make its absence a failure)."
    );
    None
}

/// A chromedriver process of this test, with a fresh browser profile; killed, with the browser
/// it started, on drop.
pub struct Driver {
    child: Child,
    port: u16,
    /// The browser's profile, removed after the processes are gone.
    profile: tempfile::TempDir,
}

impl Driver {
    /// Starts `path` (a chromedriver) on a free port and waits until it answers.
    pub async fn start(path: &Path) -> Self {
        let mut last_error = String::new();
        // A free port may be taken between finding it and the driver binding it: try again.
        for _ in 0..3 {
            let port = free_port();
            let profile = tempfile::Builder::new()
                .prefix("oauth-endpoints-chromium-")
                .tempdir()
                .unwrap();
            let mut command = Command::new(path);
            command
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // Its own process group, so that drop ends the browsers it starts too.
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            let child = command
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start {}: {error}", path.display()));
            // From here on, dropping it kills it.
            let mut driver = Self {
                child,
                port,
                profile,
            };
            match driver.wait_until_ready().await {
                Ok(()) => return driver,
                Err(error) => last_error = error,
            }
        }
        panic!("chromedriver did not start: {last_error}");
    }

    /// Polls the driver's `/status` until it is ready, it exits, or `PATIENCE` runs out.
    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let status = format!("http://127.0.0.1:{}/status", self.port);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(exit) = self.child.try_wait().map_err(|error| error.to_string())? {
                return Err(format!("it exited: {exit}"));
            }
            if let Ok(answer) = reqwest::get(&status).await
                && let Ok(text) = answer.text().await
                && serde_json::from_str::<Value>(&text)
                    .is_ok_and(|status| status["value"]["ready"] == true)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after {PATIENCE:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A headless Chromium session with this driver's fresh profile.
    pub async fn browser(&self) -> Browser {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    // Root in containers and CI: Chromium's sandbox needs user namespaces.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--window-size=1024,768",
                    format!("--user-data-dir={}", self.profile.path().display()),
                ],
            },
            "timeouts": { "pageLoad": PATIENCE.as_millis() as u64, "script": 30_000 },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a WebDriver session with headless Chromium")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole process group (the driver and any browser it started), then the driver
        // itself in case the group could not be signalled.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for an element, for at most `PATIENCE`.
pub async fn wait_for(browser: &Browser, locator: Locator<'_>) -> Element {
    browser
        .wait()
        .at_most(PATIENCE)
        .for_element(locator)
        .await
        .unwrap_or_else(|error| panic!("waiting for {locator:?}: {error}"))
}
