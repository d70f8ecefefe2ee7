//! The web client's pages over HTTP: bad input kept and explained next to its field, a session
//! that ended leads through sign-in back to the page, forms from another session or another
//! site change nothing, the security headers, the counter's one write-off, and the officials'
//! scope.

use std::time::Duration;

use healthpoints::demo::DEMO_PASSWORD;
use healthpoints_integration_tests::{ADMIN, Sandbox};
use healthpoints_web::config::WebConfig;
use reqwest::Method;

use healthpoints_integration_tests::web_client::WebClient;

/// A valid ID number of a Qingpu resident born in 1950.
fn id_number(seq: u32) -> String {
    healthpoints_types::id_number::complete(&format!("31011819500101{seq:03}")).unwrap()
}

#[tokio::test]
async fn forms_explain_bad_input_next_to_the_field_and_keep_what_was_typed() {
    let sandbox = Sandbox::start_with_web().await;
    let web = WebClient::new(sandbox.web_url());
    let form = web.get("/register").await;
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("data-idcheck"),
        "the ID number is checked as typed"
    );

    // A wrong check character: refused here, before the gateway, next to the field.
    let mut bad = id_number(7);
    bad.replace_range(17.., if bad.ends_with('1') { "2" } else { "1" });
    let page = web
        .post(
            "/register",
            &[
                ("name", "陈静"),
                ("id_number", &bad),
                ("phone", "13712345678"),
                ("password", "Resident-pass-1"),
                ("residence_district", "310118"),
                ("residence_type", "registered"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert_eq!(
        page.by_id("id_number-error").as_deref(),
        Some("身份证号码有误，请核对最后一位")
    );
    assert_eq!(page.input("name").as_deref(), Some("陈静"));
    assert_eq!(page.input("id_number").as_deref(), Some(bad.as_str()));
    assert_eq!(page.input("phone").as_deref(), Some("13712345678"));
    assert!(
        !page.body.contains("Resident-pass-1"),
        "a password is never sent back"
    );
    assert!(page.body.contains("aria-invalid=\"true\""));

    // A phone the gateway refuses: its error beside the phone, the rest kept.
    let page = web
        .post(
            "/register",
            &[
                ("name", "陈静"),
                ("id_number", &id_number(7)),
                ("phone", "12345"),
                ("password", "Resident-pass-1"),
                ("residence_district", "310118"),
                ("residence_type", "registered"),
            ],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert_eq!(
        page.by_id("phone-error").as_deref(),
        Some("请填写 11 位手机号码")
    );
    assert_eq!(page.by_id("id_number-error").as_deref(), Some(""));
    assert_eq!(page.input("id_number"), Some(id_number(7)));

    // Nobody was registered by either attempt; now it works and signs the resident in.
    let page = web
        .post(
            "/register",
            &[
                ("name", "陈静"),
                ("id_number", &id_number(7)),
                ("phone", "13712345678"),
                ("password", "Resident-pass-1"),
                ("residence_district", "310118"),
                ("residence_type", "registered"),
            ],
        )
        .await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/me")));
    let home = web.get("/me").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("注册成功") && home.body.contains("陈静"));

    // Registering the same person again: the field that is taken says so.
    let again = WebClient::new(sandbox.web_url());
    again.get("/register").await;
    let page = again
        .post(
            "/register",
            &[
                ("name", "陈静"),
                ("id_number", &id_number(7)),
                ("phone", "13712345679"),
                ("password", "Resident-pass-1"),
                ("residence_district", "310118"),
                ("residence_type", "registered"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert_eq!(
        page.by_id("id_number-error").as_deref(),
        Some("身份证号码 已经注册过")
    );

    // A wrong password: said once, the login kept, the password not.
    let page = again.sign_in("13712345678", "Wrong-pass-1").await;
    assert_eq!(page.status, 422);
    assert_eq!(
        page.by_id("login-error").as_deref(),
        Some("手机号、用户名或密码不正确")
    );
    assert_eq!(page.input("login").as_deref(), Some("13712345678"));
    assert!(!page.body.contains("Wrong-pass-1"));
    sandbox.stop().await;
}

#[tokio::test]
async fn a_session_that_ended_signs_in_again_and_returns_to_the_page() {
    let sandbox = Sandbox::start_with_web().await;
    sandbox.seed_demo().await;
    // A web client whose sessions last two seconds, in front of the same gateway.
    let config = WebConfig::load(
        None,
        &[
            ("http.addr", "127.0.0.1:0".into()),
            ("gateway.url", sandbox.base.clone()),
            ("session.max_age_seconds", "2".into()),
        ],
    )
    .unwrap();
    let app = healthpoints_web::Application::build(config).await.unwrap();
    let url = app.url().to_owned();
    let stop = healthpoints_grpc::Shutdown::new();
    let served = tokio::spawn(app.run_until_stopped(stop.clone()));

    let web = WebClient::new(url);
    let signed_in = web.sign_in("13900000001", DEMO_PASSWORD).await;
    assert_eq!(signed_in.location.as_deref(), Some("/me"));
    assert_eq!(web.get("/mall?mall=city").await.status, 200);
    tokio::time::sleep(Duration::from_millis(3100)).await;

    let ended = web.get("/mall?mall=city").await;
    assert_eq!(ended.status, 303);
    assert_eq!(
        ended.location.as_deref(),
        Some("/login?next=%2Fmall%3Fmall%3Dcity")
    );
    let login = web.get("/login?next=%2Fmall%3Fmall%3Dcity").await;
    assert!(
        login.body.contains("登录已过期，请重新登录"),
        "{}",
        login.body
    );
    assert_eq!(login.input("next").as_deref(), Some("/mall?mall=city"));
    let back = web
        .post(
            "/login",
            &[
                ("login", "13900000001"),
                ("password", DEMO_PASSWORD),
                ("next", "/mall?mall=city"),
            ],
        )
        .await;
    assert_eq!(back.location.as_deref(), Some("/mall?mall=city"));
    let mall = web.get("/mall?mall=city").await;
    assert_eq!(mall.status, 200);
    assert!(mall.body.contains("<h1>市级商城</h1>"));

    // A form sent after the session ended: through sign-in back to the page it was on.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let posted = web.post("/me/checkin", &[]).await;
    assert_eq!(posted.status, 303);
    assert!(
        posted
            .location
            .as_deref()
            .unwrap_or_default()
            .starts_with("/login"),
        "{:?}",
        posted.location
    );
    // `next` never leads off the site.
    let page = web.get("/login?next=//evil.example").await;
    assert_eq!(page.input("next").as_deref(), Some(""));
    stop.trigger();
    served.await.unwrap().unwrap();
    sandbox.stop().await;
}

/// The resident's check-ins, as the API lists them.
async fn check_ins(sandbox: &Sandbox, token: &str) -> usize {
    let (_, body) = sandbox
        .call(Method::GET, "/v1/me/behaviours", Some(token), None)
        .await;
    body["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["behaviour"] == "learning.checkin")
        .count()
}

#[tokio::test]
async fn forms_from_another_session_or_site_change_nothing() {
    let sandbox = Sandbox::start_with_web().await;
    sandbox.seed_demo().await;
    let token = sandbox.login("13900000002", DEMO_PASSWORD).await;
    let web = WebClient::new(sandbox.web_url());
    web.sign_in("13900000002", DEMO_PASSWORD).await;
    let home = web.get("/me").await;
    let csrf = home.input("csrf").unwrap();
    // The demo's points expire at the end of the second calendar year after this one.
    let year = chrono::Datelike::year(&(chrono::Utc::now() + chrono::Duration::hours(8)));
    assert!(
        home.body
            .contains(&format!("积分将于 {}-12-31 到期", year + 2)),
        "{}",
        home.body
    );

    // Another session's token (another browser's page): not acted on; the person stays
    // signed in and is told to send it again.
    let other = WebClient::new(sandbox.web_url());
    let foreign = other.get("/login").await.input("csrf").unwrap();
    let forged = web
        .post_raw("/me/checkin", &[("csrf", &foreign)], &web.base.clone())
        .await;
    assert_eq!(
        (forged.status, forged.location.as_deref()),
        (303, Some("/me"))
    );
    assert_eq!(check_ins(&sandbox, &token).await, 0);
    let home = web.get("/me").await;
    assert_eq!(home.status, 200, "still signed in");
    assert!(home.body.contains("页面已过期，请重新提交"));

    // The right token from another site's page: refused before any handler, and the refusal
    // leaves the session as it was (no new cookie).
    web.sign_in("13900000002", DEMO_PASSWORD).await;
    let csrf2 = web.get("/me").await.input("csrf").unwrap();
    assert_ne!(csrf, csrf2, "a sign-in starts a new session");
    let cross = web
        .post_raw("/me/checkin", &[("csrf", &csrf2)], "http://evil.example")
        .await;
    assert_eq!(cross.status, 403);
    assert!(cross.headers.get("set-cookie").is_none());
    assert_eq!(check_ins(&sandbox, &token).await, 0);

    // The page's own form checks in once, however often it is sent.
    for _ in 0..2 {
        let done = web.post("/me/checkin", &[]).await;
        assert_eq!(done.location.as_deref(), Some("/me"));
    }
    let home = web.get("/me").await;
    assert!(home.body.contains("今天已签到"), "{}", home.body);
    assert_eq!(check_ins(&sandbox, &token).await, 1);
    sandbox.stop().await;
}

#[tokio::test]
async fn pages_send_a_strict_policy_and_a_session_cookie_scripts_cannot_read() {
    let sandbox = Sandbox::start_with_web().await;
    let web = WebClient::new(sandbox.web_url());
    let page = web.get("/login").await;
    let header = |name: &str| {
        page.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-security-policy").contains("script-src 'self'"));
    assert!(header("content-security-policy").contains("default-src 'none'"));
    assert!(!header("content-security-policy").contains("unsafe"));
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("x-frame-options"), "DENY");
    let cookie = header("set-cookie");
    assert!(
        cookie.starts_with("hp=") && cookie.ends_with("; Path=/; HttpOnly; SameSite=Strict"),
        "{cookie}"
    );
    // Nothing inline: every script and stylesheet is a file of the site, cached for good.
    assert!(!page.body.contains("<script>") && !page.body.contains("style="));
    let css = page
        .body
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.ends_with(".css")))
        .unwrap()
        .to_owned();
    let asset = web.get(&css).await;
    assert_eq!(asset.status, 200);
    assert!(
        asset.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(web.get("/assets/site.0000.css").await.status, 404);
    // A page for someone signed in sends the person to sign in, and back.
    let me = web.get("/orders").await;
    assert_eq!(me.location.as_deref(), Some("/login?next=%2Forders"));
    // A link from another site arrives without the SameSite=Strict cookie: the page is loaded
    // again from here (where the browser sends it), and no cookie replaces the person's.
    let linked = web
        .send_with(
            "/me",
            &[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "navigate"),
            ],
        )
        .await;
    assert_eq!(linked.status, 200);
    assert!(linked.headers.get("set-cookie").is_none());
    assert!(
        linked
            .body
            .contains("http-equiv=\"refresh\" content=\"0;url=/me\"")
    );
    // A form's address asked for with GET (a sign-in that came back to it) shows the page
    // above it.
    let parent = web.get("/counter/voucher").await;
    assert_eq!(parent.location.as_deref(), Some("/counter"));
    sandbox.stop().await;
}

#[tokio::test]
async fn the_counter_writes_a_voucher_off_once_and_officials_see_only_their_district() {
    let sandbox = Sandbox::start_with_web().await;
    sandbox.seed_demo().await;
    let resident = WebClient::new(sandbox.web_url());
    resident.sign_in("13900000001", DEMO_PASSWORD).await;

    // The router's mall (the family doctor is in Qingpu) and a one-press order: pressed twice,
    // one order.
    let mall = resident.get("/mall").await;
    assert!(mall.body.contains("<h1>青浦区商城</h1>"), "{}", mall.body);
    assert!(mall.body.contains("您的家庭医生签约在这个区"));
    let fields = |name: &str| mall.input(name).unwrap();
    let (product, key) = (fields("product_id"), fields("key"));
    let price = mall.by_id("price-1").unwrap();
    let mut placed = vec![];
    for _ in 0..2 {
        let p = resident
            .post_raw(
                "/mall/order",
                &[
                    ("csrf", &fields("csrf")),
                    ("mall", "310118"),
                    ("product_id", &product),
                    ("key", &key),
                ],
                &resident.base.clone(),
            )
            .await;
        placed.push(p.location.unwrap());
    }
    assert_eq!(placed[0], placed[1], "the same press is the same order");
    let voucher = resident.get(&placed[0]).await;
    let code = voucher.by_id("voucher-code").unwrap();
    assert!(
        voucher
            .body
            .contains("<svg role=\"img\" aria-label=\"兑换券二维码\"")
    );
    assert_eq!(voucher.by_id("order-status").as_deref(), Some("待使用"));

    // The counter: what the voucher is for, then one write-off; another press with another
    // key is told it is already written off.
    let counter = WebClient::new(sandbox.web_url());
    assert_eq!(
        counter
            .sign_in("shop-310118-1", DEMO_PASSWORD)
            .await
            .location
            .as_deref(),
        Some("/counter")
    );
    counter.get("/counter").await;
    // What a counter's scanner types from the QR code finds the same voucher.
    let scanned = counter
        .post(
            "/counter/voucher",
            &[("code", &format!("HPV1:310118:{code}"))],
        )
        .await;
    assert_eq!(scanned.by_id("voucher-status").as_deref(), Some("待使用"));
    let seen = counter.post("/counter/voucher", &[("code", &code)]).await;
    assert_eq!(seen.status, 200);
    assert!(seen.body.contains("王*明"), "the name is masked");
    assert_eq!(seen.by_id("voucher-status").as_deref(), Some("待使用"));
    let key = seen.input("key").unwrap();
    let done = counter
        .post("/counter/write-off", &[("code", &code), ("key", &key)])
        .await;
    assert_eq!(done.by_id("write-off-result").as_deref(), Some("核销成功"));
    let again = counter
        .post(
            "/counter/write-off",
            &[("code", &code), ("key", "another-press")],
        )
        .await;
    assert_eq!(
        again.by_id("write-off-result").as_deref(),
        Some("不能核销：已核销")
    );
    let unknown = counter
        .post("/counter/voucher", &[("code", "NOPE-NOPE")])
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.input("code").as_deref(), Some("NOPE-NOPE"));
    let statement = counter.get("/counter/statement").await;
    assert_eq!(statement.status, 200);
    let csv = counter
        .get(&format!(
            "/counter/statement.csv?period={}",
            (chrono::Utc::now() + chrono::Duration::hours(8)).format("%Y-%m")
        ))
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    // A resident cannot use the counter.
    assert_eq!(resident.get("/counter").await.status, 403);

    // The resident sees it written off; cancelling now says what won.
    let after = resident.get(&placed[0]).await;
    assert_eq!(after.by_id("order-status").as_deref(), Some("已核销"));
    assert!(
        !after.body.contains("<svg"),
        "a used voucher shows no QR code"
    );

    // Qingpu's official: Qingpu's dashboard with its charts; Yangpu's is refused.
    let official = WebClient::new(sandbox.web_url());
    official.sign_in("official-310118", DEMO_PASSWORD).await;
    let board = official.get("/office").await;
    assert_eq!(board.status, 200);
    assert!(board.body.contains("数据看板 · 青浦区"));
    assert_eq!(board.body.matches("<svg class=\"chart\"").count(), 5);
    assert!(
        board
            .body
            .contains(&format!("<p class=\"big\">{price}</p>")),
        "the write-off is redeemed: {price}"
    );
    let other = official.get("/office?district=310110").await;
    assert_eq!(other.status, 403);
    assert!(!other.body.contains("<svg class=\"chart\""));

    // The city's office may look at any district.
    let city = WebClient::new(sandbox.web_url());
    city.sign_in(ADMIN.0, ADMIN.1).await;
    let yangpu = city.get("/office?district=310110").await;
    assert_eq!(yangpu.status, 200);
    assert!(yangpu.body.contains("数据看板 · 杨浦区"));
    sandbox.stop().await;
}

#[tokio::test]
async fn residents_manage_their_leaderboard_presence_and_consents_and_see_who_read_their_data() {
    let sandbox = Sandbox::start_with_web().await;
    sandbox.seed_demo().await;
    let admin = sandbox.admin_token().await;
    let insurer = sandbox
        .partner_of_kind(
            &admin,
            "insurer-a",
            &[],
            &["points-summary:read"],
            "commercial",
        )
        .await;
    let web = WebClient::new(sandbox.web_url());
    web.sign_in("13900000001", DEMO_PASSWORD).await;

    // The profile: ID and phone masked, the contract shown.
    let profile = web.get("/me/profile").await;
    assert_eq!(profile.status, 200);
    assert!(profile.body.contains("3101**********"), "{}", profile.body);
    assert!(profile.body.contains("139****0001"));
    assert!(profile.body.contains("Qingpu Community Health Centre"));

    // Consent for the insurer's points summary, given and withdrawn through the page.
    let given = web
        .post(
            "/me/profile/consent",
            &[
                ("action", "grant"),
                ("partner_id", "insurer-a"),
                ("category", "points_summary"),
                ("purpose", ""),
            ],
        )
        .await;
    assert_eq!(given.location.as_deref(), Some("/me/profile"));
    let profile = web.get("/me/profile").await;
    assert!(profile.body.contains("已授权"), "{}", profile.body);

    // The insurer reads the summary: the access log says so.
    let me: serde_json::Value = sandbox
        .expect(
            200,
            Method::GET,
            "/v1/me",
            Some(&sandbox.login("13900000001", DEMO_PASSWORD).await),
            None,
        )
        .await
        .unwrap();
    let resident = me["resident_id"].as_str().unwrap();
    sandbox
        .expect(
            200,
            Method::GET,
            &format!("/v1/partner/residents/{resident}/points-summary"),
            Some(&insurer),
            None,
        )
        .await
        .unwrap();
    let profile = web.get("/me/profile").await;
    assert!(profile.body.contains("读取积分概况"), "{}", profile.body);

    web.post(
        "/me/profile/consent",
        &[
            ("action", "revoke"),
            ("partner_id", "insurer-a"),
            ("category", "points_summary"),
        ],
    )
    .await;
    assert!(web.get("/me/profile").await.body.contains("已撤回"));
    let (status, _) = sandbox
        .call(
            Method::GET,
            &format!("/v1/partner/residents/{resident}/points-summary"),
            Some(&insurer),
            None,
        )
        .await;
    assert_eq!(status, 403, "a withdrawn consent stops the reading");

    // The messages say both, unread until marked read; and the demo's points, each award in
    // words (intake's events, which the exchange reads every half second).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = usize::MAX;
    let inbox = loop {
        let inbox = web.get("/me/notifications").await;
        // Until the awards are all in: two looks that agree.
        let awarded = inbox.body.matches("获得 ").count();
        if (awarded > 0 && awarded == last) || std::time::Instant::now() > deadline {
            break inbox;
        }
        last = awarded;
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(inbox.status, 200);
    assert!(
        inbox
            .body
            .contains("您已撤回对 insurer-a feed 使用您的每月积分概况数据的授权"),
        "{}",
        inbox.body
    );
    assert!(
        inbox
            .body
            .contains("您已授权 insurer-a feed 使用您的每月积分概况数据")
    );
    let awarded = inbox.body.matches("获得 ").count();
    assert!(awarded >= 1, "{}", inbox.body);
    assert!(inbox.body.contains(" 积分（¥"), "{}", inbox.body);
    assert_eq!(
        inbox.by_id("unread-count"),
        Some(format!("未读：{}", 2 + awarded))
    );
    let read = web.post("/me/notifications/read", &[]).await;
    assert_eq!(read.location.as_deref(), Some("/me/notifications"));
    assert_eq!(
        web.get("/me/notifications")
            .await
            .by_id("unread-count")
            .as_deref(),
        Some("未读：0")
    );

    // A challenge: joined from the page, its progress shown.
    let now = chrono::Utc::now();
    sandbox
        .expect(
            201,
            Method::POST,
            "/v1/admin/challenges",
            Some(&admin),
            Some(serde_json::json!({
                "title": "每天 8000 步，坚持 2 天", "behaviour": "steps.daily",
                "daily_min_quantity": 8000, "days_required": 2,
                "starts_at": (now - chrono::Duration::days(1)).to_rfc3339(),
                "ends_at": (now + chrono::Duration::days(10)).to_rfc3339(),
                "bonus_points": 50, "level": "city",
            })),
        )
        .await
        .unwrap();
    let play = web.get("/me/play").await;
    assert!(play.body.contains("每天 8000 步，坚持 2 天"));
    let challenge = play.input("challenge").expect("a join button");
    let joined = web
        .post("/me/play/join", &[("challenge", &challenge)])
        .await;
    assert_eq!(joined.location.as_deref(), Some("/me/play"));
    let play = web.get("/me/play").await;
    assert!(play.body.contains("已参加"), "{}", play.body);
    assert!(play.body.contains("<progress") && play.body.contains("max=\"2\" value=\"0\""));

    // The leaderboard: nobody is ranked without opting in.
    let play = web.get("/me/play").await;
    assert_eq!(play.status, 200);
    assert!(!play.body.contains("王*明"));
    let opted = web
        .post("/me/play/leaderboard", &[("opt_in", "true")])
        .await;
    assert_eq!(opted.location.as_deref(), Some("/me/play"));
    let play = web.get("/me/play").await;
    assert!(play.body.contains("您已上榜"), "{}", play.body);
    assert!(play.body.contains("王*明"), "{}", play.body);
    sandbox.stop().await;
}

#[tokio::test]
async fn officials_review_held_awards_change_rules_with_a_what_if_and_manage_merchants_and_partners()
 {
    let sandbox = Sandbox::start_with_web().await;
    sandbox.seed_demo().await;
    let admin = sandbox.admin_token().await;
    let resident_token = sandbox.login("13900000001", DEMO_PASSWORD).await;
    let me = sandbox
        .expect(200, Method::GET, "/v1/me", Some(&resident_token), None)
        .await
        .unwrap();
    let resident = me["resident_id"].as_str().unwrap().to_owned();

    // A flagged resident's check-in is held; Qingpu's official releases it from the queue.
    sandbox
        .expect(
            204,
            Method::POST,
            &format!("/v1/admin/residents/{resident}/review-flag"),
            Some(&admin),
            Some(serde_json::json!({"reason": "checking the web client"})),
        )
        .await
        .unwrap();
    sandbox
        .expect(
            200,
            Method::POST,
            "/v1/me/checkins",
            Some(&resident_token),
            None,
        )
        .await
        .unwrap();
    let before = sandbox.balance(&resident_token, "city").await.unwrap();
    let official = WebClient::new(sandbox.web_url());
    official.sign_in("official-310118", DEMO_PASSWORD).await;
    let queue = official.get("/office/review").await;
    assert_eq!(queue.status, 200);
    let event = queue.input("event_id").expect("a held award in the queue");
    let released = official
        .post(
            "/office/review",
            &[("event_id", &event), ("decision", "release")],
        )
        .await;
    assert_eq!(released.location.as_deref(), Some("/office/review"));
    let queue = official.get("/office/review").await;
    assert!(queue.body.contains("已通过，积分已发放"));
    assert!(queue.input("event_id").is_none(), "the queue is empty");
    assert!(sandbox.balance(&resident_token, "city").await.unwrap() > before);

    // A draft with a bad number is refused next to the field, what was typed kept.
    let rules = official.get("/office/rules").await;
    assert!(rules.body.contains("community.lecture"));
    official
        .get("/office/rules/draft?code=community.lecture")
        .await;
    let bad = official
        .post(
            "/office/rules/draft",
            &[
                ("code", "community.lecture"),
                ("title", "社区健康讲座"),
                ("points", "十"),
                ("per_day", ""),
                ("per_month", "80"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.by_id("points-error").as_deref(), Some("请填写整数"));
    assert_eq!(bad.input("points").as_deref(), Some("十"));

    // The city's office raises the daily meal record to 6 points: the what-if, then publish.
    let city = WebClient::new(sandbox.web_url());
    city.sign_in(ADMIN.0, ADMIN.1).await;
    city.get("/office/rules/draft?code=diet.record").await;
    let what_if = city
        .post(
            "/office/rules/draft",
            &[
                ("code", "diet.record"),
                ("title", "Record a balanced day of meals"),
                ("points", "6"),
                ("per_day", "6"),
                ("per_month", "120"),
            ],
        )
        .await;
    assert_eq!(what_if.status, 200, "{}", what_if.body);
    assert_eq!(what_if.body.matches("<svg class=\"chart\"").count(), 1);
    let published = city
        .post(
            "/office/rules/publish",
            &[("draft_id", &what_if.input("draft_id").unwrap())],
        )
        .await;
    assert_eq!(published.location.as_deref(), Some("/office/rules"));
    assert!(
        city.get("/office/rules")
            .await
            .body
            .contains("已发布新版本")
    );
    let (_, rules) = sandbox.call(Method::GET, "/v1/rules", None, None).await;
    let diet = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "diet.record")
        .unwrap()
        .clone();
    assert_eq!(
        (diet["version"].as_u64(), diet["award"]["fixed"].as_u64()),
        (Some(2), Some(6))
    );

    // Merchants of Qingpu's mall: a blank name refused beside it, then admitted and suspended.
    official.get("/office/merchants").await;
    let blank = official
        .post(
            "/office/merchants",
            &[
                ("name", ""),
                ("licence_no", "91310118WEB0001"),
                ("contact", "021-1"),
            ],
        )
        .await;
    assert_eq!(blank.status, 422);
    assert_eq!(
        blank.input("licence_no").as_deref(),
        Some("91310118WEB0001")
    );
    let admitted = official
        .post(
            "/office/merchants",
            &[
                ("name", "青浦社区药房"),
                ("licence_no", "91310118WEB0001"),
                ("contact", "021-1"),
            ],
        )
        .await;
    assert_eq!(admitted.location.as_deref(), Some("/office/merchants"));
    let list = official.get("/office/merchants").await;
    assert!(list.body.contains("青浦社区药房"), "{}", list.body);
    let (_, merchants) = sandbox
        .call(Method::GET, "/v1/malls/310118/merchants", None, None)
        .await;
    let id = merchants["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "青浦社区药房")
        .unwrap()["merchant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    official
        .post(
            "/office/merchants/status",
            &[("merchant_id", &id), ("status", "suspended")],
        )
        .await;
    let (_, merchants) = sandbox
        .call(Method::GET, "/v1/malls/310118/merchants", None, None)
        .await;
    assert!(
        merchants["merchants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["merchant_id"] == id.as_str() && m["status"] == "suspended")
    );

    // Partners: the city admin registers one and sees its secret once; a district official
    // sees the list without the form, and posting it is refused.
    city.get("/office/partners").await;
    let registered = city
        .post(
            "/office/partners",
            &[
                ("name", "Health insurer"),
                ("department", "insurer-b"),
                ("kind", "commercial"),
                ("behaviours", ""),
                ("scopes", "points-summary:read"),
            ],
        )
        .await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    assert!(
        registered
            .by_id("client-secret")
            .is_some_and(|s| s.len() > 16)
    );
    assert!(
        city.get("/office/partners")
            .await
            .by_id("client-secret")
            .is_none()
    );
    let listed = official.get("/office/partners").await;
    assert!(
        listed.body.contains("insurer-b") && !listed.body.contains("action=\"/office/partners\"")
    );
    let refused = official
        .post("/office/partners", &[("name", "x"), ("department", "x")])
        .await;
    assert_eq!(refused.status, 403);
    sandbox.stop().await;
}

/// The value of the first option of the `<select id="{id}">`.
fn first_option(page: &healthpoints_integration_tests::web_client::Page, id: &str) -> String {
    let at = page.body.find(&format!("id=\"{id}\"")).expect("the select");
    let marker = "<option value=\"";
    let start = at + page.body[at..].find(marker).expect("an option") + marker.len();
    let end = page.body[start..].find('"').unwrap();
    page.body[start..start + end].to_owned()
}

/// The health-station counter in the web client: the demo's Qingpu counter finds 王小明 by ID
/// card, records a lecture for him, orders for him only once the box says he agreed, and shows
/// the voucher to print; his own station code (a QR code in his app) is the other way in.
#[tokio::test]
async fn a_station_counter_serves_a_resident_who_comes_in_person() {
    let sandbox = Sandbox::start_with_web().await;
    sandbox.seed_demo().await;
    let counter = WebClient::new(sandbox.web_url());
    let signed_in = counter.sign_in("station-310118", DEMO_PASSWORD).await;
    assert_eq!(signed_in.location.as_deref(), Some("/station"));
    assert_eq!(counter.get("/station").await.status, 200);

    let unknown = healthpoints_integration_tests::id_number("310118", "19880315", 99);
    let nobody = counter
        .post("/station/lookup", &[("id_number", &unknown)])
        .await;
    assert_eq!(nobody.status, 422);
    assert!(
        nobody
            .by_id("proof-error")
            .is_some_and(|e| e.starts_with("没有找到该居民")),
        "{}",
        nobody.body
    );
    let id = healthpoints_integration_tests::id_number("310118", "19880315", 11);
    let found = counter.post("/station/lookup", &[("id_number", &id)]).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.by_id("resident-h").as_deref(), Some("王*明"));
    assert!(found.body.contains("value=\"community.lecture\""));
    let key = found.input("key").unwrap();
    let proof = [("id_number", id.as_str()), ("station_code", "")];
    let fields = |extra: &[(&'static str, &str)]| {
        let mut all: Vec<(&str, String)> = proof.iter().map(|(k, v)| (*k, v.to_string())).collect();
        all.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        all
    };
    let send = |page: &'static str, form: Vec<(&'static str, String)>| {
        let counter = &counter;
        async move {
            let borrowed: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            counter.post(page, &borrowed).await
        }
    };
    let recorded = send(
        "/station/record",
        fields(&[
            ("behaviour", "community.lecture"),
            ("activity", "L-2026-12"),
            ("key", &key),
        ]),
    )
    .await;
    assert_eq!(
        recorded.by_id("station-result").as_deref(),
        Some("已登记，获得 20 积分（¥0.20）"),
        "{}",
        recorded.body
    );

    let product = first_option(&recorded, "product");
    let order_key = format!("{key}-order");
    let unticked = send(
        "/station/order",
        fields(&[("product", &product), ("key", &order_key)]),
    )
    .await;
    assert_eq!(
        unticked.by_id("station-result").as_deref(),
        Some("请先征得居民同意，并勾选确认")
    );
    let voucher = send(
        "/station/order",
        fields(&[
            ("product", &product),
            ("consent", "yes"),
            ("key", &order_key),
        ]),
    )
    .await;
    assert_eq!(voucher.status, 200, "{}", voucher.body);
    assert!(voucher.by_id("voucher-code").is_some_and(|c| !c.is_empty()));
    assert!(
        voucher
            .body
            .contains("<svg role=\"img\" aria-label=\"兑换券二维码\"")
    );
    assert!(voucher.body.contains("data-print"));
    // The counter is for station staff only.
    let resident = WebClient::new(sandbox.web_url());
    resident.sign_in("13900000001", DEMO_PASSWORD).await;
    assert_eq!(resident.get("/station").await.status, 403);
    // The resident's own code: a QR code to show instead of the ID card.
    let code = resident.get("/me/station-code").await;
    assert_eq!(code.status, 200);
    assert!(
        code.body
            .contains("<svg role=\"img\" aria-label=\"小屋码\"")
    );
    // A forgotten password, reset at the counter after the ID check.
    let reset = send(
        "/station/password",
        fields(&[("new_password", "Counter-pass-6")]),
    )
    .await;
    assert_eq!(
        reset.by_id("station-result").as_deref(),
        Some("密码已重置，请居民用新密码登录"),
        "{}",
        reset.body
    );
    let again = WebClient::new(sandbox.web_url());
    assert_eq!(
        again
            .sign_in("13900000001", "Counter-pass-6")
            .await
            .location
            .as_deref(),
        Some("/me")
    );
    sandbox.stop().await;
}

/// A resident changes their password from their profile (a wrong current one is said next to
/// its field; this browser carries on signed in) and resets a forgotten one with the code sent
/// to their phone (a wrong code is said next to its field), then signs in with it.
#[tokio::test]
async fn a_resident_changes_a_password_and_resets_a_forgotten_one() {
    let sandbox = Sandbox::start_with_web().await;
    sandbox.seed_demo().await;
    let phone = "13900000002";
    let web = WebClient::new(sandbox.web_url());
    web.sign_in(phone, DEMO_PASSWORD).await;
    let profile = web.get("/me/profile").await;
    assert!(profile.body.contains("href=\"/me/password\""));
    // Their data, to keep.
    let csv = web.get("/me/export?format=csv").await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.body
            .starts_with("section,at,what,points,book,reference,detail"),
        "{}",
        csv.body
    );
    let json = web.get("/me/export?format=json").await;
    assert!(json.body.contains("\"points_history\""), "{}", json.body);
    web.get("/me/password").await;
    let wrong = web
        .post(
            "/me/password",
            &[
                ("current_password", "Not-mine-1"),
                ("new_password", "Fresh-pass-9"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("当前密码不正确"), "{}", wrong.body);
    let changed = web
        .post(
            "/me/password",
            &[
                ("current_password", DEMO_PASSWORD),
                ("new_password", "Fresh-pass-9"),
            ],
        )
        .await;
    assert_eq!(changed.location.as_deref(), Some("/me/profile"));
    let profile = web.get("/me/profile").await;
    assert_eq!(profile.status, 200, "still signed in, with the new session");
    assert!(profile.body.contains("密码已修改"), "{}", profile.body);

    let anon = WebClient::new(sandbox.web_url());
    assert!(
        anon.get("/login")
            .await
            .body
            .contains("href=\"/password-reset\"")
    );
    anon.get("/password-reset").await;
    let sent = anon.post("/password-reset", &[("phone", phone)]).await;
    assert_eq!(sent.location.as_deref(), Some("/password-reset/confirm"));
    let form = anon.get("/password-reset/confirm").await;
    assert!(form.body.contains("验证码已发送"), "{}", form.body);
    let text = sandbox.next_message_to(phone, None).await;
    let code: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned();
    let other = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let refused = anon
        .post(
            "/password-reset/confirm",
            &[
                ("phone", phone),
                ("code", &other),
                ("new_password", "Reset-pass-8"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("验证码不正确"), "{}", refused.body);
    let done = anon
        .post(
            "/password-reset/confirm",
            &[
                ("phone", phone),
                ("code", &code),
                ("new_password", "Reset-pass-8"),
            ],
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("/login"));
    assert_eq!(
        anon.sign_in(phone, "Reset-pass-8")
            .await
            .location
            .as_deref(),
        Some("/me")
    );

    // And closes the account from the profile page: a wrong password is said there.
    assert!(
        anon.get("/me/profile")
            .await
            .body
            .contains("action=\"/me/close\"")
    );
    let wrong = anon.post("/me/close", &[("password", "Not-mine-1")]).await;
    assert_eq!(wrong.location.as_deref(), Some("/me/profile#close-h"));
    assert!(
        anon.get("/me/profile")
            .await
            .body
            .contains("当前密码不正确")
    );
    let closed = anon
        .post(
            "/me/close",
            &[("password", "Reset-pass-8"), ("cancel_open_orders", "on")],
        )
        .await;
    assert_eq!(closed.location.as_deref(), Some("/login"));
    assert!(anon.get("/login").await.body.contains("账号已注销"));
    assert_eq!(
        anon.sign_in(phone, "Reset-pass-8").await.status,
        422,
        "closed"
    );
}
