//! Headless Chromium through chromiumoxide (Chrome DevTools Protocol): open a page, read its
//! text, take a PNG screenshot. The browser starts on first use; the system `chromium` is
//! required (a clear error says how to install it).

use anyhow::{anyhow, Context};
use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::Page;
use futures::StreamExt;
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

pub use operator_instance_api::PageInfo;

struct Session {
    browser: Browser,
    page: Option<Page>,
    handler: tokio::task::JoinHandle<()>,
}

pub struct BrowserManager {
    profile_dir: PathBuf,
    session: Mutex<Option<Session>>,
}

/// `OPERATOR_CHROMIUM`, else the first of chromium, chromium-browser, google-chrome on PATH.
pub fn find_chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("OPERATOR_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

const MAX_TEXT: usize = 64 * 1024;

impl BrowserManager {
    pub fn new(profile_dir: &Path) -> Self {
        Self {
            profile_dir: profile_dir.to_owned(),
            session: Mutex::new(None),
        }
    }

    async fn launch(&self) -> anyhow::Result<Session> {
        let exe = find_chromium().ok_or_else(|| {
            anyhow!("chromium is not installed: run `apt-get install chromium` (or set OPERATOR_CHROMIUM to a Chrome/Chromium binary)")
        })?;
        std::fs::create_dir_all(&self.profile_dir)?;
        let config = BrowserConfig::builder()
            .chrome_executable(&exe)
            .no_sandbox()
            .user_data_dir(&self.profile_dir)
            .args([
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
            ])
            .build()
            .map_err(|e| anyhow!("browser configuration: {e}"))?;
        let (browser, mut events) = Browser::launch(config)
            .await
            .with_context(|| format!("start {}", exe.display()))?;
        let handler = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if event.is_err() {
                    break;
                }
            }
        });
        Ok(Session {
            browser,
            page: None,
            handler,
        })
    }

    /// Navigates the (single) tab to `url` and returns its title and visible text.
    pub async fn open(&self, url: &str) -> anyhow::Result<PageInfo> {
        let parsed = reqwest::Url::parse(url).context("invalid URL")?;
        if !matches!(parsed.scheme(), "http" | "https") {
            anyhow::bail!("only http and https URLs can be opened");
        }
        let mut guard = self.session.lock().await;
        if guard.is_none() {
            *guard = Some(self.launch().await?);
        }
        let session = guard
            .as_mut()
            .ok_or_else(|| anyhow!("browser not running"))?;
        let page = match &session.page {
            Some(p) => {
                p.goto(url).await.context("navigate")?;
                p.clone()
            }
            None => {
                let p = session.browser.new_page(url).await.context("open a tab")?;
                session.page = Some(p.clone());
                p
            }
        };
        page.wait_for_navigation().await.context("load the page")?;
        describe(&page).await
    }

    /// Text of the current page.
    pub async fn text(&self) -> anyhow::Result<PageInfo> {
        let page = self.current().await?;
        describe(&page).await
    }

    /// PNG of the current page.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        let page = self.current().await?;
        page.screenshot(
            ScreenshotParams::builder()
                .format(CaptureScreenshotFormat::Png)
                .full_page(true)
                .build(),
        )
        .await
        .context("screenshot")
    }

    async fn current(&self) -> anyhow::Result<Page> {
        self.session
            .lock()
            .await
            .as_ref()
            .and_then(|s| s.page.clone())
            .ok_or_else(|| anyhow!("no page is open; open a URL first"))
    }

    pub async fn shutdown(&self) {
        if let Some(mut s) = self.session.lock().await.take() {
            let _ = s.browser.close().await;
            let _ = s.browser.wait().await;
            s.handler.abort();
        }
    }
}

async fn describe(page: &Page) -> anyhow::Result<PageInfo> {
    let title = page.get_title().await?.unwrap_or_default();
    let url = page.url().await?.unwrap_or_default();
    let mut text: String = page
        .evaluate("document.body ? document.body.innerText : ''")
        .await?
        .into_value()
        .unwrap_or_default();
    if text.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Ok(PageInfo { url, title, text })
}
