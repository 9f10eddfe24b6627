"""Labels of the shelter pages, Japanese first, English second. Status wording follows
VACAN Maps (利用停止中 / 空いています / やや混雑 / 混雑 / 満)."""

from __future__ import annotations

LANGUAGES = ("ja", "en")

LABELS: dict[str, dict[str, str]] = {
    "ja": {
        "title": "加賀市 避難所の開設・混雑状況", "staff_title": "避難所スタッフ",
        "switch": "English", "switch_lang": "en", "lang_name": "日本語",
        "closed": "利用停止中", "open": "開設中", "vacant": "空いています",
        "slightlyCrowded": "やや混雑", "crowded": "混雑", "full": "満",
        "unknown": "混雑状況不明", "filters": "絞り込み", "hazard": "災害の種類",
        "any_hazard": "すべて", "open_only": "開設中のみ表示",
        "sort_from": "距離の基準", "my_location": "現在地から並べる",
        "district": "地区を選んで並べる", "choose_district": "地区を選択",
        "list": "避難所一覧", "map": "地図", "print": "一覧を印刷",
        "updated": "最終更新", "capacity": "収容人数", "evacuees": "避難者数",
        "capacity_unknown": "収容人数不明", "distance": "距離",
        "count_shown": "件表示", "live": "自動更新中", "offline": "接続が切れました。再接続中…",
        "location_denied": "現在地を取得できませんでした。地区を選んでください。",
        "designatedShelter": "指定避難所", "emergencyEvacuationSite": "指定緊急避難場所",
        "temporaryShelter": "臨時避難所", "pets": "ペット可",
        "flood": "洪水", "landslide": "崖崩れ・土石流・地滑り", "stormSurge": "高潮",
        "earthquake": "地震", "tsunami": "津波", "largeFire": "大規模な火事",
        "inlandFlooding": "内水氾濫", "volcano": "火山現象",
        "skip": "一覧へ移動", "data_sources": "データの出典", "by_staff": "職員の判断",
        "staff_link": "職員用ページ",
        # staff app
        "my_shelters": "担当の避難所", "search": "名前で探す", "do_open": "開設する",
        "do_close": "閉鎖する", "minus": "1人減らす", "plus": "1人増やす",
        "save": "保存", "crowding": "混雑状況", "auto": "自動（人数から計算）",
        "notes": "メモ（職員用）", "saved": "保存しました", "error": "保存できませんでした",
        "add_temporary": "臨時避難所を追加", "name": "名称", "kind": "種類",
        "address": "住所", "lat": "緯度", "lon": "経度", "find_address": "住所から地図に置く",
        "tap_map": "地図をタップして場所を選べます", "add": "追加する",
        "communityHall": "公民館・集会所", "ryokan": "旅館", "hotel": "ホテル",
        "school": "学校", "temple": "寺社", "gymnasium": "体育館",
        "publicFacility": "公共施設", "other": "その他", "signed_in_as": "ログイン中",
        "account": "アカウント・ログアウト", "assign": "担当職員（ユーザー名）",
        "assign_save": "担当職員を保存",
        "assign_hint": "管理者はすべての避難所を見ます。"
                       "担当職員はユーザー名をカンマで区切って入力します。",
        "public_map": "公開地図", "none_assigned": "担当の避難所はありません",
    },
    "en": {
        "title": "Kaga City shelters: open and crowding status", "staff_title": "Shelter staff",
        "switch": "日本語", "switch_lang": "ja", "lang_name": "English",
        "closed": "Closed", "open": "Open", "vacant": "Vacant",
        "slightlyCrowded": "Slightly crowded", "crowded": "Crowded", "full": "Full",
        "unknown": "Crowding unknown", "filters": "Filters", "hazard": "Hazard",
        "any_hazard": "All", "open_only": "Open shelters only",
        "sort_from": "Sort by distance from", "my_location": "My location",
        "district": "A district", "choose_district": "Choose a district",
        "list": "Shelter list", "map": "Map", "print": "Print the list",
        "updated": "Updated", "capacity": "Capacity", "evacuees": "Evacuees",
        "capacity_unknown": "Capacity unknown", "distance": "Distance",
        "count_shown": "shown", "live": "Live", "offline": "Connection lost, reconnecting…",
        "location_denied": "Your location is not available. Please choose a district.",
        "designatedShelter": "Designated shelter",
        "emergencyEvacuationSite": "Emergency evacuation site",
        "temporaryShelter": "Temporary shelter", "pets": "Pets allowed",
        "flood": "Flood", "landslide": "Landslide", "stormSurge": "Storm surge",
        "earthquake": "Earthquake", "tsunami": "Tsunami", "largeFire": "Large fire",
        "inlandFlooding": "Inland flooding", "volcano": "Volcano",
        "skip": "Skip to the list", "data_sources": "Data sources", "by_staff": "set by staff",
        "staff_link": "Staff page",
        "my_shelters": "My shelters", "search": "Search by name", "do_open": "Open",
        "do_close": "Close", "minus": "One less", "plus": "One more",
        "save": "Save", "crowding": "Crowding", "auto": "Automatic (from the count)",
        "notes": "Notes (staff only)", "saved": "Saved", "error": "Could not save",
        "add_temporary": "Add a temporary shelter", "name": "Name", "kind": "Kind",
        "address": "Address", "lat": "Latitude", "lon": "Longitude",
        "find_address": "Place by address", "tap_map": "You can tap the map to choose the place",
        "add": "Add", "communityHall": "Community hall", "ryokan": "Ryokan", "hotel": "Hotel",
        "school": "School", "temple": "Temple / shrine", "gymnasium": "Gymnasium",
        "publicFacility": "Public facility", "other": "Other", "signed_in_as": "Signed in as",
        "account": "Account, sign out", "assign": "Responsible staff (usernames)",
        "assign_save": "Save responsible staff",
        "assign_hint": "Administrators see every shelter. Enter the responsible staff's "
                       "usernames separated by commas.",
        "public_map": "Public map", "none_assigned": "No shelters are assigned to you",
    },
}


def language_of(query_lang: str | None, cookie_lang: str | None) -> str:
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGUAGES:
            return candidate
    return "ja"
