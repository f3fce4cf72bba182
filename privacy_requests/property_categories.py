"""Plain-language categories of personal information, from property names (issue 17).

One mapping for every place that speaks of categories to an end user: the export package's
categories.json and index.html now, deletions by category later. Mixpanel's reserved
properties ($-prefixed and mp_) are mapped by name; everything else a product sent is
"custom". The raw name is always shown beside the category, so nothing hides behind it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    key: str
    name: str
    description: str


CONTACT = Category(
    "contact", "Contact details", "How to reach you: your name, email address, phone number."
)
IDENTIFIERS = Category(
    "identifiers",
    "Identifiers",
    "The ids that tell your records apart: your user id, device ids, record ids.",
)
DEVICE = Category(
    "device",
    "Device and browser",
    "The device, operating system, browser or app version you used, and its screen.",
)
LOCATION = Category(
    "location", "Location", "Where you were, roughly: country, region, city, time zone."
)
ACTIVITY = Category(
    "activity",
    "App activity",
    "What you did and when: pages and screens seen, times, sessions, how you arrived.",
)
MARKETING = Category(
    "marketing",
    "Marketing attribution",
    "Which campaign, advertisement or search brought you (utm_ parameters, click ids).",
)
PURCHASES = Category(
    "purchases", "Purchases", "What you bought or paid: amounts, transactions, revenue."
)
CUSTOM = Category(
    "custom",
    "Custom properties",
    "Other properties the product chose to record; their names describe them.",
)

CATEGORIES: tuple[Category, ...] = (
    CONTACT,
    IDENTIFIERS,
    DEVICE,
    LOCATION,
    ACTIVITY,
    MARKETING,
    PURCHASES,
    CUSTOM,
)

_BY_NAME: dict[str, Category] = {}
for _category, _names in (
    (
        CONTACT,
        "$email $phone $name $first_name $last_name $avatar $username $unsubscribed "
        "$android_devices $ios_devices",
    ),
    (
        IDENTIFIERS,
        "distinct_id $distinct_id $insert_id $device_id $user_id $anon_id $identified_id "
        "$distinct_id_before_identity $mp_api_endpoint mp_device_id $group_key $group_id",
    ),
    (
        DEVICE,
        "$browser $browser_version $os $os_version $device $device_type $model $manufacturer "
        "$brand $screen_height $screen_width $screen_dpi $app_version $app_version_string "
        "$app_build_number $app_release $carrier $wifi $radio $bluetooth_enabled "
        "$bluetooth_version $has_nfc $has_telephone $lib_version mp_lib $google_play_services "
        "$ios_ifa $android_os $android_os_version $android_app_version $ios_version "
        "$ios_app_version $ios_device_model $android_model $android_brand "
        "$android_manufacturer",
    ),
    (
        LOCATION,
        "$city $region mp_country_code $country_code $geo_source $timezone $latitude "
        "$longitude ip $ip $geo_latitude $geo_longitude",
    ),
    (
        ACTIVITY,
        "time $time $current_url $initial_referrer $initial_referring_domain $referrer "
        "$referring_domain $search_engine mp_keyword $duration $event_name $created "
        "$last_seen $session_id $screen_name $mp_web_page_view $title $pathname $host "
        "$import mp_processing_time_ms $ae_session_length $ae_total_app_sessions "
        "$ae_total_app_session_length $ae_first_app_open_date $ae_updated_from "
        "$ae_updated_to $ae_crashed $first_seen",
    ),
    (
        MARKETING,
        "utm_source utm_medium utm_campaign utm_content utm_term utm_id gclid fbclid msclkid "
        "dclid ttclid twclid li_fat_id wbraid gbraid ko_click_id sccid mc_cid",
    ),
    (
        PURCHASES,
        "$amount $transactions $ae_iap $ae_iap_price $ae_iap_quantity $ae_iap_name "
        "$ae_iap_currency",
    ),
):
    for _name in _names.split():
        _BY_NAME[_name] = _category

_PREFIXES: tuple[tuple[str, Category], ...] = (
    ("utm_", MARKETING),
    ("$initial_utm_", MARKETING),
    ("initial_utm_", MARKETING),
    ("$ae_", ACTIVITY),
)


def property_category(name: str) -> Category:
    """The category of a property by its raw name; names nobody reserved are CUSTOM."""
    known = _BY_NAME.get(name)
    if known is not None:
        return known
    for prefix, category in _PREFIXES:
        if name.startswith(prefix):
            return category
    return CUSTOM
