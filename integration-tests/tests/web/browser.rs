//! The web client in headless Chromium, 375 px wide like a phone: a resident signs in, checks
//! in, sees the points, orders in the mall the router chose and sees the voucher; the merchant
//! writes it off at the counter page; the resident sees it written off; a district official
//! sees their dashboard with its charts and is refused another district's. Every main page is
//! checked with axe-core (WCAG 2.1 A and AA): no serious or critical violation.
//!
//! axe-core comes from npm (`.ci/run` packs it); `HP_AXE_JS` names its `axe.min.js`. With
//! `HP_SCREENSHOTS=DIR` the test also saves each main page at phone and desktop width there (the
//! pictures in docs/web.md).

use healthpoints::demo::DEMO_PASSWORD;
use healthpoints_integration_tests::{Sandbox, webdriver::Browser};
use serde_json::{Value, json};

/// axe-core's source, if the run has it.
fn axe_source() -> Option<String> {
    match std::env::var("HP_AXE_JS") {
        Ok(path) => Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))),
        Err(_) => {
            assert!(
                !healthpoints_integration_tests::webdriver::required(),
                "HP_BROWSER_TESTS=1 needs HP_AXE_JS (axe.min.js from npm axe-core)"
            );
            None
        }
    }
}

/// Runs axe-core on the page and fails on any serious or critical violation.
async fn accessible(browser: &Browser, axe: Option<&str>, page: &str) {
    let Some(axe) = axe else { return };
    let loaded = browser
        .execute(&format!("{axe}\n;return typeof axe;"), json!([]))
        .await
        .unwrap();
    assert_eq!(loaded, "object", "axe-core loads in {page}");
    let violations = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
               .then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => ({id: v.id, impact: v.impact, help: v.help,
                             nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))
               .catch(e => done([{id: 'axe-failed', help: String(e)}]));",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(
        violations,
        json!([]),
        "{page}: serious or critical accessibility violations"
    );
}

/// Saves the page at phone and desktop width when `HP_SCREENSHOTS` names a directory.
async fn picture(browser: &Browser, name: &str) {
    let Ok(dir) = std::env::var("HP_SCREENSHOTS") else {
        return;
    };
    for (width, height, suffix) in [(375, 812, "phone"), (1280, 900, "desktop")] {
        browser.resize(width, height).await.unwrap();
        // The whole page, up to three screens tall.
        let tall = browser
            .execute("return document.documentElement.scrollHeight;", json!([]))
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(u64::from(height));
        let full = u32::try_from(tall)
            .unwrap_or(height)
            .clamp(height, 3 * height);
        browser.resize(width, full + 140).await.unwrap();
        let png = browser.screenshot().await.unwrap();
        std::fs::write(format!("{dir}/{name}-{suffix}.png"), png).unwrap();
    }
    browser.resize(375, 812).await.unwrap();
}

/// The page fits the window: nothing wider than the phone's screen.
async fn fits(browser: &Browser, page: &str) {
    let widths: Value = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            json!([]),
        )
        .await
        .unwrap();
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "{page} scrolls sideways at phone width: {widths}"
    );
}

async fn sign_in(browser: &Browser, web: &str, login: &str) {
    browser.goto(&format!("{web}/login")).await.unwrap();
    browser.fill("#login", login).await.unwrap();
    browser.fill("#password", DEMO_PASSWORD).await.unwrap();
    browser.submit("main button[type=submit]").await.unwrap();
}

async fn sign_out(browser: &Browser) {
    browser
        .submit("form[action='/logout'] button")
        .await
        .unwrap();
}

#[tokio::test]
async fn residents_merchants_and_officials_use_it_in_chromium_and_every_main_page_is_accessible() {
    let Some(browser) = Browser::start(375, 812).await.unwrap() else {
        return;
    };
    let axe = axe_source();
    let axe = axe.as_deref();
    let sandbox = Sandbox::start_with_web().await;
    sandbox.seed_demo().await;
    let web = sandbox.web_url();

    // Signing in, and registering (the ID number is checked as it is typed).
    browser.goto(&format!("{web}/login")).await.unwrap();
    accessible(&browser, axe, "sign-in").await;
    picture(&browser, "login").await;
    for (path, name) in [
        ("/password-reset", "password reset"),
        ("/password-reset/confirm", "password reset code"),
    ] {
        browser.goto(&format!("{web}{path}")).await.unwrap();
        fits(&browser, name).await;
        accessible(&browser, axe, name).await;
    }
    browser.goto(&format!("{web}/register")).await.unwrap();
    let valid = healthpoints_types::id_number::complete("31011819500101007").unwrap();
    let wrong = format!(
        "{}{}",
        &valid[..17],
        if valid.ends_with('1') { '2' } else { '1' }
    );
    browser.fill("#id_number", &wrong).await.unwrap();
    browser.click("#phone").await.unwrap();
    assert_eq!(
        browser.text("#id_number-error").await.unwrap(),
        "身份证号码有误，请核对最后一位",
        "checked as typed, before sending"
    );
    assert_eq!(
        browser.property("#id_number", "ariaInvalid").await.unwrap(),
        "true"
    );
    accessible(&browser, axe, "registration").await;

    // The resident: points, today's check-in, the routed mall, an order, the voucher.
    sign_in(&browser, &web, "13900000001").await;
    assert!(browser.url().await.unwrap().ends_with("/me"));
    // A link from another site (here a data: page) to a page of the web client: the
    // SameSite=Strict cookie is not sent with it, the page loads itself again from the site,
    // and the resident is still signed in.
    browser
        .goto(&format!(
            "data:text/html,<a id=go href='{web}/me/history'>go</a>"
        ))
        .await
        .unwrap();
    browser.submit("#go").await.unwrap();
    for _ in 0..50 {
        if browser.url().await.unwrap().ends_with("/me/history")
            && browser.count("h1").await.unwrap() == 1
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        browser.text("h1").await.unwrap(),
        "积分明细",
        "still signed in"
    );
    browser.goto(&format!("{web}/me")).await.unwrap();
    assert!(
        browser
            .text("main")
            .await
            .unwrap()
            .contains("10,000 积分（¥100.00）")
    );
    browser
        .submit("form[action='/me/checkin'] button")
        .await
        .unwrap();
    let flash = browser.text(".flash").await.unwrap();
    assert!(flash.contains("连续 1 天"), "{flash}");
    assert!(
        browser
            .text("#checkin-h + p")
            .await
            .unwrap()
            .contains("今天已签到")
    );
    fits(&browser, "home").await;
    accessible(&browser, axe, "home").await;
    picture(&browser, "home").await;

    browser.submit("a[href='/mall']").await.unwrap();
    assert_eq!(browser.text("h1").await.unwrap(), "青浦区商城");
    assert!(
        browser
            .text("#reason-h + p")
            .await
            .unwrap()
            .contains("家庭医生")
    );
    fits(&browser, "mall").await;
    accessible(&browser, axe, "mall").await;
    picture(&browser, "mall").await;
    browser
        .submit("form[action='/mall/order'] button")
        .await
        .unwrap();
    let voucher_url = browser.url().await.unwrap();
    assert!(
        voucher_url.contains("/orders/"),
        "{voucher_url}: {}",
        browser.text("main").await.unwrap()
    );
    let code = browser.text("#voucher-code").await.unwrap();
    assert_eq!(browser.count(".voucher svg[role=img]").await.unwrap(), 1);
    assert_eq!(browser.text("#order-status").await.unwrap(), "待使用");
    fits(&browser, "voucher").await;
    accessible(&browser, axe, "voucher").await;
    picture(&browser, "voucher").await;
    for (path, name) in [
        ("/orders", "orders"),
        ("/me/history", "history"),
        ("/me/play", "challenges"),
        ("/me/profile", "profile"),
        ("/me/station-code", "station code"),
        ("/me/notifications", "messages"),
        ("/me/password", "change password"),
    ] {
        browser.goto(&format!("{web}{path}")).await.unwrap();
        fits(&browser, name).await;
        accessible(&browser, axe, name).await;
    }
    sign_out(&browser).await;

    // The counter: type the code, see what it is for, write it off.
    sign_in(&browser, &web, "shop-310118-1").await;
    let at = browser.url().await.unwrap();
    assert!(
        at.ends_with("/counter"),
        "{at}: {}",
        browser.text("main").await.unwrap()
    );
    accessible(&browser, axe, "counter").await;
    browser.fill("#code", &code).await.unwrap();
    browser.submit("main button[type=submit]").await.unwrap();
    assert_eq!(browser.text("#voucher-status").await.unwrap(), "待使用");
    fits(&browser, "counter voucher").await;
    accessible(&browser, axe, "counter voucher").await;
    picture(&browser, "counter").await;
    browser
        .submit("form[action='/counter/write-off'] button")
        .await
        .unwrap();
    assert_eq!(browser.text("#write-off-result").await.unwrap(), "核销成功");
    assert_eq!(browser.text("#voucher-status").await.unwrap(), "已核销");
    browser
        .goto(&format!("{web}/counter/statement"))
        .await
        .unwrap();
    accessible(&browser, axe, "statement").await;
    sign_out(&browser).await;

    // The resident sees it written off.
    sign_in(&browser, &web, "13900000001").await;
    browser.goto(&voucher_url).await.unwrap();
    assert_eq!(browser.text("#order-status").await.unwrap(), "已核销");
    sign_out(&browser).await;

    // Qingpu's official: the dashboard with its charts; Yangpu's is refused.
    sign_in(&browser, &web, "official-310118").await;
    assert!(browser.url().await.unwrap().ends_with("/office"));
    assert!(browser.text("h1").await.unwrap().contains("青浦区"));
    assert_eq!(browser.count("figure.chart svg").await.unwrap(), 5);
    fits(&browser, "dashboard").await;
    accessible(&browser, axe, "dashboard").await;
    picture(&browser, "office").await;
    for (path, name) in [
        ("/office/review", "review queue"),
        ("/office/rules", "rules"),
        ("/office/rules/draft?code=community.lecture", "rule draft"),
        ("/office/merchants", "merchants"),
        ("/office/partners", "partners"),
    ] {
        browser.goto(&format!("{web}{path}")).await.unwrap();
        fits(&browser, name).await;
        accessible(&browser, axe, name).await;
    }
    browser
        .goto(&format!("{web}/office?district=310110"))
        .await
        .unwrap();
    assert_eq!(browser.text("h1").await.unwrap(), "无权访问");
    assert_eq!(browser.count("figure.chart").await.unwrap(), 0);

    // English on request.
    browser.submit("form[action='/lang'] button").await.unwrap();
    assert_eq!(browser.text("h1").await.unwrap(), "Not allowed");
    browser.goto(&format!("{web}/office")).await.unwrap();
    assert!(browser.text("h1").await.unwrap().starts_with("Dashboard"));
    accessible(&browser, axe, "dashboard in English").await;
    sign_out(&browser).await;

    // A health station's counter (in English now) serves 王小明 in person: found by ID card, a
    // lecture recorded, an order placed with his consent, the voucher ready to print.
    sign_in(&browser, &web, "station-310118").await;
    assert!(browser.url().await.unwrap().ends_with("/station"));
    accessible(&browser, axe, "station").await;
    let id = healthpoints_types::id_number::complete("31011819880315011").unwrap();
    browser.fill("#id_number", &id).await.unwrap();
    browser.submit("main button[type=submit]").await.unwrap();
    assert_eq!(browser.text("#resident-h").await.unwrap(), "王*明");
    fits(&browser, "station resident").await;
    accessible(&browser, axe, "station resident").await;
    browser.fill("#activity", "L-2026-12").await.unwrap();
    browser
        .submit("form[action='/station/record'] button")
        .await
        .unwrap();
    assert_eq!(browser.count("#station-result.ok").await.unwrap(), 1);
    browser.click("#consent").await.unwrap();
    browser
        .submit("form[action='/station/order'] button")
        .await
        .unwrap();
    assert!(!browser.text("#voucher-code").await.unwrap().is_empty());
    assert_eq!(
        browser
            .count("button[data-print]:not([hidden])")
            .await
            .unwrap(),
        1
    );
    fits(&browser, "station voucher").await;
    accessible(&browser, axe, "station voucher").await;
    picture(&browser, "station").await;
    browser.quit().await;
    sandbox.stop().await;
}
