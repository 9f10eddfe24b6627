"""Words of the login and enrolment pages, Japanese first, English on ?lang=en."""

from __future__ import annotations

LANGUAGES = ("ja", "en")

TEXTS: dict[str, dict[str, str]] = {
    "site": {"ja": "加賀市シティOS", "en": "Kaga City OS"},
    "other_language": {"ja": "English", "en": "日本語"},
    "login_title": {"ja": "運用者ログイン", "en": "Operator sign-in"},
    "username": {"ja": "ユーザー名", "en": "Username"},
    "password": {"ja": "パスワード", "en": "Password"},
    "next_step": {"ja": "次へ", "en": "Next"},
    "login_hint": {"ja": "パスワードの次に、認証アプリの確認コードを入力します。",
                   "en": "After the password you enter a code from your authenticator app."},
    "totp_title": {"ja": "確認コード", "en": "Verification code"},
    "enrol_title": {"ja": "二段階認証の設定", "en": "Set up two-step verification"},
    "enrol_heading": {"ja": "認証アプリを登録してください",
                      "en": "Register an authenticator app"},
    "enrol_step_app": {"ja": "スマートフォンに認証アプリ（Google Authenticator、"
                             "Microsoft Authenticator など）を用意します。",
                       "en": "Have an authenticator app on your phone (Google "
                             "Authenticator, Microsoft Authenticator…)."},
    "enrol_step_scan": {"ja": "アプリで下の QR コードを読み取ります。読み取れない場合は"
                              "キーを手入力します。",
                        "en": "Scan the QR code below with the app, or type the key in."},
    "enrol_step_code": {"ja": "アプリに表示された 6 桁のコードを入力します。",
                        "en": "Enter the 6-digit code the app shows."},
    "qr_label": {"ja": "認証アプリ登録用の QR コード",
                 "en": "QR code to register the authenticator app"},
    "manual_key": {"ja": "手入力用のキー:", "en": "Key for typing in:"},
    "code_label": {"ja": "確認コード", "en": "Verification code"},
    "code_help": {"ja": "認証アプリの 6 桁のコード、またはリカバリーコードを入力します。",
                  "en": "The 6-digit code from your authenticator app, or a recovery code."},
    "code_help_enrol": {"ja": "認証アプリの 6 桁のコードを入力します。",
                        "en": "The 6-digit code from your authenticator app."},
    "confirm": {"ja": "確認", "en": "Verify"},
    "cancel": {"ja": "ログインをやめる", "en": "Cancel sign-in"},
    "recovery_title": {"ja": "リカバリーコード", "en": "Recovery codes"},
    "recovery_heading": {"ja": "リカバリーコード一覧", "en": "Recovery codes"},
    "recovery_intro": {"ja": "スマートフォンを失くしたときは、これらのコードで一度ずつ"
                             "ログインできます。",
                       "en": "If you lose your phone, each of these codes signs you in "
                             "once."},
    "recovery_warning": {"ja": "コードは今しか表示されません。印刷するか安全な場所に"
                               "保管してください。",
                         "en": "The codes are shown only now. Print them or keep them "
                               "somewhere safe."},
    "continue": {"ja": "続ける", "en": "Continue"},
    "account_title": {"ja": "ログイン中", "en": "Signed in"},
    "roles": {"ja": "役割", "en": "Roles"},
    "no_roles": {"ja": "なし", "en": "none"},
    "second_factor": {"ja": "二段階認証", "en": "Second factor"},
    "done": {"ja": "完了", "en": "completed"},
    "not_done": {"ja": "未完了", "en": "not completed"},
    "logout": {"ja": "ログアウト", "en": "Sign out"},
    "password_title": {"ja": "パスワードの変更", "en": "Change password"},
    "password_forced": {"ja": "初回ログインです。仮パスワードを自分だけが知るパスワードに"
                              "変更してください。",
                        "en": "First sign-in: replace the one-time password by one only "
                              "you know."},
    "current_password": {"ja": "現在のパスワード", "en": "Current password"},
    "new_password": {"ja": "新しいパスワード", "en": "New password"},
    "new_password_again": {"ja": "新しいパスワード（確認）", "en": "New password again"},
    "new_password_help": {"ja": "{n} 文字以上。長い文（パスフレーズ）がおすすめです。",
                          "en": "At least {n} characters; a long phrase is best."},
    "change_password": {"ja": "変更する", "en": "Change password"},
    "bad_current_password": {"ja": "現在のパスワードが正しくありません。",
                             "en": "The current password is not correct."},
    "password_mismatch": {"ja": "新しいパスワードが一致しません。",
                          "en": "The new passwords do not match."},
    "password_too_short": {"ja": "新しいパスワードは {n} 文字以上にしてください。",
                           "en": "The new password needs at least {n} characters."},
    "password_same": {"ja": "新しいパスワードは現在のものと違うものにしてください。",
                      "en": "The new password must differ from the current one."},
    "bad_credentials": {"ja": "ユーザー名またはパスワードが正しくありません。",
                        "en": "The username or password is not correct."},
    "bad_code": {"ja": "コードが正しくないか、すでに使われています。",
                 "en": "The code is not correct or was used already."},
    "locked": {"ja": "失敗が続いたため、しばらくログインできません（約 {seconds} 秒）。",
               "en": "Too many failed attempts: try again in about {seconds} seconds."},
    "csrf": {"ja": "フォームの有効期限が切れました。もう一度お試しください。",
             "en": "The form expired. Please try again."},
    "session_expired": {"ja": "ログインの有効期限が切れました。もう一度ログインしてください。",
                        "en": "Your sign-in expired. Please sign in again."},
}


def texts(lang: str) -> dict[str, str]:
    return {key: value[lang] for key, value in TEXTS.items()}


def language(value: str | None) -> str:
    return value if value in LANGUAGES else "ja"
