//! The pages' words in Chinese (the default) and English, and how numbers, points, yuan and
//! times are shown: 100 points are ¥1, and every time is Asia/Shanghai (UTC+8, no daylight
//! saving) whatever the server's zone.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// The page language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn msgs(self) -> &'static Msgs {
        match self {
            Self::Zh => &ZH,
            Self::En => &EN,
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "zh" | "zh-CN" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }
}

macro_rules! messages {
    ($($key:ident: $zh:literal, $en:literal;)*) => {
        /// Every word of the pages, in one language.
        #[derive(Debug)]
        pub struct Msgs {
            $(pub $key: &'static str,)*
        }
        /// 中文（默认）.
        pub static ZH: Msgs = Msgs { $($key: $zh,)* };
        /// English.
        pub static EN: Msgs = Msgs { $($key: $en,)* };
    };
}

messages! {
    html_lang: "zh-CN", "en";
    app: "健康积分", "Health Points";
    skip: "跳到正文", "Skip to content";
    menu: "菜单", "Menu";
    other_lang: "English", "中文";
    other_lang_code: "en", "zh";
    sign_in: "登录", "Sign in";
    sign_out: "退出", "Sign out";
    register: "注册", "Register";
    login_label: "手机号或用户名", "Phone number or username";
    password: "密码", "Password";
    password_hint: "8 至 128 个字符，至少包含一个字母和一个数字", "8 to 128 characters, with at least one letter and one digit";
    no_account: "还没有账号？", "No account yet?";
    have_account: "已有账号？", "Already registered?";
    bad_login: "手机号、用户名或密码不正确", "The login or the password is not right";
    locked: "连续输错密码次数过多，请稍后再试", "Too many wrong passwords; please try again later";
    web_not_for_role: "此账号不能使用网页版，请使用接口", "This account cannot use the web client; use the API";
    name: "姓名", "Full name";
    id_number: "身份证号码", "ID card number";
    id_number_hint: "18 位，最后一位可能是 X", "18 characters; the last may be X";
    id_length: "身份证号码应为 18 位", "An ID card number has 18 characters";
    id_check: "身份证号码有误，请核对最后一位", "This ID card number does not add up; check the last character";
    phone: "手机号码", "Mobile phone number";
    phone_hint: "11 位手机号码", "11-digit mainland mobile number";
    residence_district: "户籍或居住区", "District of residence";
    residence_type: "居住类型", "Residence type";
    registered_type: "户籍居民", "Registered resident";
    migrant_type: "常住人口", "Permanent migrant";
    err_name: "请填写姓名（最多 50 个字）", "Enter your name (at most 50 characters)";
    err_phone: "请填写 11 位手机号码", "Enter an 11-digit mainland mobile number";
    err_password: "密码需 8 至 128 个字符，至少包含一个字母和一个数字", "A password needs 8 to 128 characters with at least one letter and one digit";
    err_district: "请选择已加入项目的区", "Choose a district that has joined the programme";
    change_password: "修改密码", "Change password";
    my_data: "下载我的数据", "Download my data";
    close_account: "注销账号", "Close my account";
    close_account_note: "注销后不能再登录、获得积分或兑换；未使用的兑换券仍可使用（也可勾选取消并退回积分）。您的个人信息将在保存期满后删除，积分账目以匿名编号保留。", "Once closed you cannot sign in, earn or order; vouchers you hold stay usable (or tick the box to cancel them and get the points back). Your personal data is erased after the retention period; the points books keep their entries under an anonymous number.";
    close_cancel_orders: "取消未使用的兑换券并退回积分", "Cancel my unused vouchers and return their points";
    account_closed: "账号已注销", "Your account is closed";
    station_password: "重置密码", "Reset the password";
    station_password_note: "仅在核对身份证后办理。请居民自己输入新密码；其所有设备上的登录将退出。", "Only after checking the ID card. Let the resident type the new password; they are signed out on every device.";
    station_password_done: "密码已重置，请居民用新密码登录", "Password reset; the resident signs in with the new one";
    account_barred: "此账号已被停用或已注销，不能登录", "This account is suspended or closed and cannot sign in";
    my_data_note: "您在本项目中的全部数据：资料（已脱敏）、积分明细、健康行为、订单、授权、数据访问记录和消息。", "Everything the programme holds about you: profile (masked), points history, behaviours, orders, consents, who read your data, and your messages.";
    current_password: "当前密码", "Current password";
    new_password: "新密码", "New password";
    err_current_password: "当前密码不正确", "The current password is not right";
    err_same_password: "新密码不能与当前密码相同", "The new password must differ from the current one";
    password_changed: "密码已修改，其他设备上的登录已退出", "Password changed; you are signed out on every other device";
    forgot_password: "忘记密码？", "Forgot your password?";
    reset_password: "重置密码", "Reset password";
    reset_intro: "请输入注册时使用的手机号码，我们将发送验证码。", "Enter the mobile number you registered with; we will send a code to it.";
    send_code: "发送验证码", "Send the code";
    code_sent: "如果该号码已注册，验证码已发送，10 分钟内有效。", "If the number is registered, a code is on its way; it is valid for 10 minutes.";
    reset_code: "验证码", "Code";
    reset_code_hint: "短信中的 6 位数字", "The 6 digits in the text message";
    err_code: "验证码不正确或已过期，可重新获取", "The code is not right or has expired; you can ask for a new one";
    reset_unavailable: "暂不能通过短信重置密码，请携带身份证到健康小屋办理", "Passwords cannot be reset by text message here; bring your ID card to a health station";
    password_reset_ok: "密码已重置，请用新密码登录", "Password reset; sign in with the new password";
    err_taken: "已经注册过", "is already registered";
    form_errors: "请修改标出的内容", "Please correct the fields marked below";
    registered_ok: "注册成功，请登录", "Registered. Please sign in";
    home: "我的积分", "My points";
    history: "积分明细", "History";
    mall: "积分商城", "Mall";
    orders: "我的订单", "My orders";
    counter: "柜台核销", "Counter";
    statement: "月度对账", "Statement";
    office: "数据看板", "Dashboard";
    hello: "您好", "Hello";
    book_city: "市级积分", "City points";
    book_district: "区级积分", "District points";
    available: "可用", "Available";
    reserved: "已冻结（未核销订单）", "Reserved (open orders)";
    no_points: "还没有积分。每天签到、参加健康活动都能获得积分。", "No points yet. Check in every day and take part in healthy activities to earn them.";
    checkin: "今日签到", "Today's check-in";
    checkin_button: "签到", "Check in";
    checkin_done: "今天已签到，连续 {} 天", "Checked in today: {} days in a row";
    expires_on: "{} 积分将于 {} 到期", "{} points expire on {}";
    streak_alive: "已连续签到 {} 天，今天签到就能保持", "{} days in a row so far: check in today to keep it going";
    cap_cut: "{}上限，少得 {} 积分", "{} cap reached: {} points fewer";
    cap_day: "每日", "Daily";
    cap_week: "每周", "Weekly";
    cap_month: "每月", "Monthly";
    cap_year: "每年", "Yearly";
    cap_lifetime: "终身", "Lifetime";
    cap_interval: "间隔", "Interval";
    checkin_points: "签到获得 {} 积分", "Check-in earned {} points";
    checkin_bonus: "连续签到奖励 {} 积分", "Streak bonus: {} points";
    checkin_none: "今天的签到没有积分：", "Today's check-in earned no points: ";
    family_doctor: "家庭医生签约", "Family doctor";
    no_family_doctor: "尚未签约家庭医生。签约后可在签约所在区的商城兑换。", "No family-doctor contract yet. With one, you redeem in the mall of its district.";
    valid_until: "有效期至", "valid until";
    your_mall: "为您服务的商城", "Your mall";
    go_mall: "去兑换", "Redeem points";
    transactions: "积分记录", "Points records";
    behaviours: "健康行为", "Healthy behaviours";
    when: "时间", "When";
    what: "内容", "What";
    points: "积分", "Points";
    outcome: "结果", "Outcome";
    why: "原因", "Why";
    more: "更多", "More";
    nothing_yet: "暂无记录", "Nothing yet";
    outcome_awarded: "已得分", "Awarded";
    outcome_capped: "已达上限", "Capped";
    outcome_duplicate: "重复记录", "Duplicate";
    outcome_held: "审核中", "Under review";
    outcome_rejected: "未得分", "Not awarded";
    outcome_pending: "处理中", "Pending";
    reservation_pending: "冻结中", "reserved";
    reservation_posted: "已扣除", "spent";
    reservation_voided: "已退回", "returned";
    reservation_expired: "已过期退回", "expired, returned";
    mall_reason: "为什么是这个商城", "Why this mall";
    route_contract: "您的家庭医生签约在这个区，由{}为您服务", "";
    route_no_contract: "您还没有签约家庭医生，由{}为您服务", "";
    route_not_enrolled: "您签约的区尚未加入项目，由{}为您服务", "";
    route_unavailable: "您签约区的商城暂时无法访问，由{}为您服务", "";
    jumps: "也可以去", "You can also go to";
    products: "商品与服务", "Products and services";
    stock: "库存", "In stock";
    unlimited: "充足", "plenty";
    limit: "每人限购", "Limit per person";
    min_age: "年龄要求", "Minimum age";
    order_button: "兑换", "Redeem";
    no_products: "这个商城暂时没有商品", "This mall has nothing on offer yet";
    mall_closed: "这个商城暂时无法访问，请稍后再试或去其他商城", "This mall cannot be reached right now; try again later or another mall";
    ordered: "兑换成功，请到店出示券码", "Redeemed. Show the voucher at the shop";
    voucher: "兑换券", "Voucher";
    voucher_code: "券码", "Voucher code";
    qr_label: "兑换券二维码", "Voucher QR code";
    show_at_counter: "请在柜台出示二维码或券码", "Show the QR code or the code at the counter";
    status: "状态", "Status";
    expires: "有效期至", "Expires";
    status_reserved: "待使用", "Ready to use";
    status_written_off: "已核销", "Used";
    status_cancelled: "已取消", "Cancelled";
    status_expired: "已过期", "Expired";
    status_refunded: "已退款", "Refunded";
    cancel_order: "取消兑换，退回积分", "Cancel and get the points back";
    cancelled_ok: "已取消，积分已退回", "Cancelled; the points are back";
    product: "商品", "Product";
    no_orders: "还没有订单", "No orders yet";
    some_malls_down: "部分商城暂时无法访问，订单可能不全：", "Some malls cannot be reached; the list may be incomplete: ";
    counter_code: "扫码或输入券码", "Scan or type the voucher code";
    look_up: "查询", "Look up";
    resident: "居民", "Resident";
    write_off: "确认核销", "Write off";
    written_off_ok: "核销成功", "Written off";
    cannot_write_off: "不能核销：", "Cannot write off: ";
    not_your_voucher: "这张券不属于本商户", "This voucher belongs to another merchant";
    bad_code: "请输入或扫描券码", "Type or scan a voucher code";
    today_orders: "今日订单", "Today's orders";
    notifications: "消息", "Messages";
    no_notifications: "还没有消息", "No messages yet";
    unread: "未读", "Unread";
    new_tag: "新", "New";
    mark_all_read: "全部标为已读", "Mark all as read";
    note_consent_granted: "您已授权 {} 使用您的{}数据", "You allowed {} to use your {} data";
    note_consent_revoked: "您已撤回对 {} 使用您的{}数据的授权", "You withdrew {}'s use of your {} data";
    note_written_off: "兑换券已使用：{}（{}）", "Voucher used: {} ({})";
    note_refunded: "订单已退款：{}，{} 已退回", "Order refunded: {}; {} returned";
    note_expired: "兑换券已过期：{}，{} 已退回", "Voucher expired: {}; {} returned";
    note_awarded: "获得 {}：{}", "You earned {} for {}";
    note_held: "积分待审核：{}（{}）", "Points held for review: {} ({})";
    note_rejected: "审核未通过：{}（{}）", "Not approved after review: {} ({})";
    note_points_expiring: "{} 将于 {} 过期（{}），请及时使用", "{} expire on {} ({}); spend them before then";
    note_voucher_expiring: "兑换券即将过期：{}，请于 {} 前使用", "Voucher about to expire: {}; use it by {}";
    station: "健康小屋服务台", "Health station counter";
    station_intro: "请居民出示身份证或健康积分“小屋码”，二者填一项即可。", "Ask for the resident's ID card or the station code in their app; one of the two is enough.";
    station_code_field: "扫描小屋码", "Scan the station code";
    station_proof_needed: "请填写身份证号码，或扫描居民手机上的小屋码", "Type the ID card number, or scan the code on the resident's phone";
    station_bad_code: "小屋码无效或已过期，请居民刷新后重新出示", "This station code is not valid or has expired; ask the resident to show a new one";
    station_nobody: "没有找到该居民，请核对身份证号码；未注册的居民可先在此注册", "No resident is registered under this; check the number, or help them register";
    station_slow_down: "操作过于频繁，请稍后再试", "Too many requests from this counter; wait a moment";
    born: "出生", "born";
    station_record: "登记本次服务", "Record today's service";
    behaviour_label: "服务项目", "Service";
    activity: "活动编号（讲座、小组活动需填写）", "Activity number (for lectures and groups)";
    record_button: "登记", "Record";
    station_recorded: "已登记，获得 {}", "Recorded: {}";
    station_held: "已登记，积分待审核后发放", "Recorded; the points wait for a review";
    station_order: "代为兑换", "Redeem for the resident";
    resident_agrees: "居民已当面同意本次兑换", "The resident agreed to this order here";
    station_consent_needed: "请先征得居民同意，并勾选确认", "Ask the resident first, and tick the box";
    station_pick_product: "请选择商品", "Choose a product";
    next_resident: "下一位居民", "Next resident";
    print_voucher: "打印兑换券", "Print the voucher";
    station_code_title: "小屋码", "Station code";
    station_code_hint: "在健康小屋服务台出示此码即可登记、兑换，无需身份证。5 分钟内有效。", "Show this code at a health station counter instead of your ID card. Valid for 5 minutes.";
    station_code_new: "刷新小屋码", "New code";
    next_voucher: "核销下一张", "Next voucher";
    period: "月份", "Month";
    show: "查看", "Show";
    download_csv: "下载 CSV", "Download CSV";
    orders_count: "订单数", "Orders";
    merchant: "商户", "Merchant";
    scope: "范围", "Scope";
    whole_city: "全市", "Whole city";
    participants: "参与人数", "Participants";
    issued: "发放积分", "Points issued";
    redeemed: "兑换积分", "Points redeemed";
    liability: "未兑换积分（负债）", "Outstanding (liability)";
    budget_left: "预算余额", "Budget left";
    no_budget: "未设预算", "no budget set";
    chart_by_month: "各月发放与兑换", "Issued and redeemed by month";
    chart_by_category: "本月各类行为发放积分", "Points issued this month by category";
    chart_by_age: "本月参与人数（按年龄段）", "Participants this month by age band";
    chart_by_residence: "本月参与人数（按居住类型）", "Participants this month by residence type";
    chart_by_mall: "各商城兑换", "Redemptions by mall";
    suppressed_note: "少于 10 人的分组不显示，以保护个人信息", "Groups of fewer than 10 people are hidden to protect privacy";
    hidden: "已隐藏", "hidden";
    cat_learning: "健康学习", "Learning";
    cat_lifestyle: "运动与生活方式", "Exercise and lifestyle";
    cat_public_health_service: "公共卫生服务", "Public health services";
    cat_public_welfare: "公益", "Public welfare";
    play: "健康活动", "Challenges";
    profile: "我的资料", "My profile";
    challenges: "挑战赛", "Challenges";
    no_challenges: "目前没有挑战赛", "No challenges right now";
    bonus: "完成奖励", "Bonus";
    ends: "截止", "ends";
    progress: "进度（天）", "Progress (days)";
    completed: "已完成", "Completed";
    join: "参加", "Join";
    joined_ok: "已参加", "Joined";
    challenge_ended: "这项挑战赛已经结束", "This challenge has ended";
    leaderboard: "排行榜", "Leaderboard";
    leaderboard_note: "只有选择上榜的居民才会出现，姓名打码显示", "Only residents who opt in appear, with their names masked";
    opt_in_button: "我要上榜", "Show me on it";
    opt_out_button: "不上榜", "Leave it";
    opted_in: "您已上榜（姓名打码）", "You appear on the leaderboards (name masked)";
    opted_out: "您不再出现在排行榜上", "You no longer appear on the leaderboards";
    consents: "数据授权", "Data sharing";
    consents_note: "合作机构只有在您授权后才能上报或读取相应类别的数据，您可以随时撤回", "Partners may send or read a category of your data only with your consent; you can withdraw it at any time";
    consent_active: "已授权", "granted";
    consent_revoked: "已撤回", "withdrawn";
    grant: "授权", "Grant";
    revoke: "撤回授权", "Withdraw";
    granted_ok: "已授权", "Consent granted";
    revoked_ok: "已撤回授权", "Consent withdrawn";
    default_purpose: "健康积分", "health points";
    partner: "机构", "Partner";
    category: "数据类别", "Data category";
    purpose: "用途（可不填）", "Purpose (optional)";
    access_log: "谁看过我的数据", "Who saw my data";
    records: "记录数", "Records";
    rules: "积分规则", "Rules";
    draft: "起草修改", "Draft a change";
    rule_title: "规则名称", "Title";
    points_each: "每次积分", "Points each time";
    points_per_unit: "每单位积分", "Points per unit";
    cap_suffix: "上限（可不填）", " cap (optional)";
    tiered: "分档计分", "tiered";
    see_what_if: "看看影响", "See what it would change";
    what_if: "近 30 天按草案重算", "The last 30 days under the draft";
    events_replayed: "重算记录数", "Records replayed";
    before: "现行规则", "Rules in force";
    after: "草案", "Draft";
    publish: "发布（立即生效）", "Publish (in force now)";
    published_ok: "已发布新版本", "Published as the rule's next version";
    err_whole_number: "请填写整数", "Enter a whole number";
    err_required: "请填写此项", "This is required";
    review: "待审核", "Review";
    merchants: "商户", "Merchants";
    partners: "合作机构", "Partners";
    no_held: "没有待审核的记录", "Nothing is waiting for review";
    release: "通过并发放", "Release";
    reject: "驳回", "Reject";
    released_ok: "已通过，积分已发放", "Released: the points are paid";
    rejected_ok: "已驳回", "Rejected";
    already_decided: "这条记录已经处理过", "This record was already decided";
    admit: "接纳商户", "Admit a merchant";
    admitted_ok: "商户已接纳", "Merchant admitted";
    licence_no: "营业执照号", "Licence number";
    contact: "联系方式", "Contact";
    suspend: "暂停", "Suspend";
    reinstate: "恢复", "Reinstate";
    status_reason: "由管理人员在网页端操作", "changed by an official in the web client";
    saved_ok: "已保存", "Saved";
    department: "部门", "Department";
    kind: "类型", "Kind";
    behaviours_list: "可上报的行为（逗号分隔）", "Behaviours it reports (comma-separated)";
    scopes_list: "权限（逗号分隔，如 behaviours:submit）", "Scopes (comma-separated, e.g. behaviours:submit)";
    register_partner: "登记合作机构", "Register a partner";
    secret_once: "请立即保存：密钥只显示这一次", "Save it now: the secret is shown this once";
    refused: "无权访问", "Not allowed";
    refused_text: "您的账号无权查看这些内容", "Your account may not see this";
    not_for_you: "这个页面不属于您的账号类型", "This page is not for your kind of account";
    not_found: "找不到页面", "Not found";
    not_found_text: "您要找的内容不存在或不属于您", "What you asked for does not exist, or is not yours";
    bad_request: "请求有误", "Bad request";
    form_unreadable: "表单内容无法读取，请返回重试", "The form could not be read; go back and try again";
    unavailable: "服务繁忙", "Busy";
    unavailable_text: "服务暂时不可用，请稍后再试。您的积分不受影响。", "The service cannot answer right now; please try again shortly. Your points are safe.";
    internal: "出错了", "Something went wrong";
    internal_text: "服务出现问题，已记录。请稍后再试。", "Something went wrong on our side and was logged. Please try again.";
    session_ended: "登录已过期，请重新登录", "Your session has ended; please sign in again";
    form_expired: "页面已过期，请重新提交", "The page had expired; please submit again";
    cross_site: "拒绝来自其他网站的表单", "A form from another site was refused";
    back_home: "返回首页", "Back to the start";
}

/// `12,345`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `¥12.34` for 1,234 points.
pub fn yuan(points: u64) -> String {
    format!("¥{}.{:02}", grouped(points / 100), points % 100)
}

impl Msgs {
    /// `1,200 积分（¥12.00）` / `1,200 points (¥12.00)`.
    pub fn points_yuan(&self, points: u64) -> String {
        if self.html_lang == "en" {
            format!("{} points ({})", grouped(points), yuan(points))
        } else {
            format!("{} 积分（{}）", grouped(points), yuan(points))
        }
    }

    /// A template with one `{}`, filled.
    pub fn fill(&self, template: &str, value: impl std::fmt::Display) -> String {
        template.replacen("{}", &value.to_string(), 1)
    }

    /// A book's name: `city` or `district:<code>`.
    pub fn book(&self, book: &str) -> String {
        match book.strip_prefix("district:") {
            None => self.book_city.to_owned(),
            Some(code) => format!("{} · {}", self.book_district, district_name(self, code)),
        }
    }

    /// An outcome of a behaviour.
    pub fn outcome(&self, outcome: &str) -> &'static str {
        match outcome {
            "awarded" => self.outcome_awarded,
            "capped" => self.outcome_capped,
            "duplicate" => self.outcome_duplicate,
            "held" => self.outcome_held,
            "rejected" => self.outcome_rejected,
            _ => self.outcome_pending,
        }
    }

    /// An order's status.
    pub fn order_status(&self, status: &str) -> &'static str {
        match status {
            "reserved" => self.status_reserved,
            "written_off" => self.status_written_off,
            "cancelled" => self.status_cancelled,
            "expired" => self.status_expired,
            _ => self.status_refunded,
        }
    }

    /// A cap's name (`per_day`, …).
    pub fn cap(&self, cap: &str) -> &'static str {
        match cap {
            "per_day" => self.cap_day,
            "per_week" => self.cap_week,
            "per_month" => self.cap_month,
            "per_year" => self.cap_year,
            "per_lifetime" => self.cap_lifetime,
            _ => self.cap_interval,
        }
    }

    /// A reservation's state in the points records.
    pub fn reservation(&self, state: &str) -> &'static str {
        match state {
            "pending" => self.reservation_pending,
            "posted" => self.reservation_posted,
            "voided" => self.reservation_voided,
            _ => self.reservation_expired,
        }
    }

    /// Why a record earned nothing, by its stable code (docs/rules.md); English pages show the
    /// service's own sentence.
    pub fn reason(&self, code: &str) -> Option<&'static str> {
        if self.html_lang == "en" {
            return None;
        }
        Some(match code {
            "resident_unknown" => "找不到这位居民",
            "resident_suspended" => "账号已暂停",
            "resident_not_enrolled" => "所在区尚未加入项目",
            "occurred_in_future" => "时间晚于现在",
            "too_old" => "超过了上报期限（30 天）",
            "unknown_behaviour" => "当时没有适用的积分规则",
            "district_required" => "缺少发生的区",
            "source_not_allowed" => "这个来源不能上报此类行为",
            "missing_evidence" => "缺少凭证",
            "implausible_quantity" => "数量不合常理",
            "below_threshold" => "未达到得分标准",
            "budget_exhausted" => "本期积分预算已用完",
            "review_rejected" => "审核未通过",
            "under_review" | "flagged_by_admin" => "正在审核",
            "velocity_resident" | "velocity_source" => "短时间内记录过多，正在审核",
            _ => return None,
        })
    }

    /// A merchant's status.
    pub fn merchant_status(&self, status: &str) -> &'static str {
        let en = self.html_lang == "en";
        match status {
            "active" => {
                if en {
                    "active"
                } else {
                    "营业中"
                }
            }
            "suspended" => {
                if en {
                    "suspended"
                } else {
                    "已暂停"
                }
            }
            _ => {
                if en {
                    "pending"
                } else {
                    "待生效"
                }
            }
        }
    }

    /// A partner's kind.
    pub fn partner_kind(&self, kind: &str) -> &'static str {
        let en = self.html_lang == "en";
        match kind {
            "department" => {
                if en {
                    "government department"
                } else {
                    "政府部门"
                }
            }
            _ => {
                if en {
                    "commercial (needs consent)"
                } else {
                    "商业机构（需居民授权）"
                }
            }
        }
    }

    /// A consent category.
    pub fn consent_category(&self, category: &str) -> String {
        let en = self.html_lang == "en";
        match category {
            "steps_exercise" => {
                if en {
                    "Steps and exercise"
                } else {
                    "步数与运动"
                }
            }
            "sleep" => {
                if en {
                    "Sleep"
                } else {
                    "睡眠"
                }
            }
            "chronic_disease" => {
                if en {
                    "Chronic disease follow-up"
                } else {
                    "慢病随访"
                }
            }
            "vaccination" => {
                if en {
                    "Vaccination"
                } else {
                    "疫苗接种"
                }
            }
            "screening" => {
                if en {
                    "Screenings and health checks"
                } else {
                    "筛查与体检"
                }
            }
            "points_summary" => {
                if en {
                    "Monthly points summary"
                } else {
                    "每月积分概况"
                }
            }
            other => other,
        }
        .to_owned()
    }

    /// What a partner did with a resident's data (the access log's `action`).
    pub fn access_action(&self, action: &str) -> String {
        let en = self.html_lang == "en";
        match action {
            "submit_records" | "submit_fhir" => {
                if en {
                    "sent records"
                } else {
                    "上报记录"
                }
            }
            "submit_contracts" => {
                if en {
                    "sent a family-doctor contract"
                } else {
                    "上报家庭医生签约"
                }
            }
            "read_points_summary" => {
                if en {
                    "read your points summary"
                } else {
                    "读取积分概况"
                }
            }
            other => other,
        }
        .to_owned()
    }

    /// A behaviour category.
    pub fn category(&self, category: &str) -> String {
        match category {
            "learning" => self.cat_learning.into(),
            "lifestyle" => self.cat_lifestyle.into(),
            "public_health_service" => self.cat_public_health_service.into(),
            "public_welfare" => self.cat_public_welfare.into(),
            other => other.into(),
        }
    }
}

/// The districts' Chinese names; their codes and English names are the city's list
/// ([`healthpoints_types::DISTRICTS`]).
const ZH_NAMES: [(&str, &str); 16] = [
    ("310101", "黄浦区"),
    ("310104", "徐汇区"),
    ("310105", "长宁区"),
    ("310106", "静安区"),
    ("310107", "普陀区"),
    ("310109", "虹口区"),
    ("310110", "杨浦区"),
    ("310112", "闵行区"),
    ("310113", "宝山区"),
    ("310114", "嘉定区"),
    ("310115", "浦东新区"),
    ("310116", "金山区"),
    ("310117", "松江区"),
    ("310118", "青浦区"),
    ("310120", "奉贤区"),
    ("310151", "崇明区"),
];

/// Every district's code, in order.
pub fn district_codes() -> impl Iterator<Item = &'static str> {
    healthpoints_types::DISTRICTS.iter().map(|(code, _)| *code)
}

/// A district's name by its code; the code itself when unknown.
pub fn district_name(t: &Msgs, code: &str) -> String {
    let names: &[(&str, &str)] = if t.html_lang == "en" {
        healthpoints_types::DISTRICTS
    } else {
        &ZH_NAMES
    };
    names
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, name)| *name)
        .to_owned()
}

/// A mall's name: `city` or a district code.
pub fn mall_name(t: &Msgs, mall: &str) -> String {
    if mall == "city" {
        if t.html_lang == "en" {
            "City mall".into()
        } else {
            "市级商城".into()
        }
    } else if t.html_lang == "en" {
        format!("{} mall", district_name(t, mall))
    } else {
        format!("{}商城", district_name(t, mall))
    }
}

/// Shanghai's offset: UTC+8 all year.
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("8 hours is a valid offset")
}

/// `2026-12-07 09:30` in Shanghai, from an RFC 3339 time; the text itself if it is not one.
pub fn local_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&shanghai())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// Today in Shanghai, `2026-12-07`.
pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&shanghai()).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_district_of_the_city_has_a_chinese_name() {
        for code in district_codes() {
            assert!(ZH_NAMES.iter().any(|(c, _)| *c == code), "{code}");
        }
        assert_eq!(district_name(&EN, "310115"), "Pudong New Area");
        assert_eq!(district_name(&ZH, "999999"), "999999");
    }

    #[test]
    fn points_show_with_yuan_and_times_in_shanghai() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(yuan(123_456), "¥1,234.56");
        assert_eq!(ZH.points_yuan(1200), "1,200 积分（¥12.00）");
        assert_eq!(EN.points_yuan(5), "5 points (¥0.05)");
        assert_eq!(local_time("2026-12-06T16:30:00Z"), "2026-12-07 00:30");
        assert_eq!(ZH.book("district:310118"), "区级积分 · 青浦区");
        assert_eq!(mall_name(&EN, "310110"), "Yangpu mall");
        assert_eq!(ZH.fill(ZH.checkin_done, 7), "今天已签到，连续 7 天");
        assert_eq!(
            EN.fill(&EN.fill(EN.expires_on, grouped(1_200)), "2027-12-31"),
            "1,200 points expire on 2027-12-31"
        );
    }
}
