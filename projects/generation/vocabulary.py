"""What generated data looks like: the names, places, devices and shares both paths draw from."""

FIRST_NAMES = [
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken",
    "Frances", "Edsger", "Radia", "Tim", "Hedy", "Donald", "Katherine", "Guido",
]  # fmt: skip
LAST_NAMES = [
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Dijkstra", "Perlman", "Berners-Lee", "Lamarr", "Knuth", "Johnson", "van Rossum",
]  # fmt: skip
CITIES = [
    ("San Francisco", "US"), ("New York", "US"), ("London", "GB"), ("Berlin", "DE"),
    ("Paris", "FR"), ("Toronto", "CA"), ("Sydney", "AU"), ("Tokyo", "JP"),
    ("São Paulo", "BR"), ("Bengaluru", "IN"), ("Madrid", "ES"), ("Amsterdam", "NL"),
    ("Stockholm", "SE"), ("Dublin", "IE"), ("Singapore", "SG"), ("Mexico City", "MX"),
]  # fmt: skip
BROWSERS = ["Chrome", "Safari", "Firefox", "Microsoft Edge"]
WEB_OSES = ["Windows", "Mac OS X", "Linux", "Chrome OS"]
IOS_MODELS = ["iPhone15,2", "iPhone14,5", "iPhone16,1", "iPad13,4"]
ANDROID_MODELS = ["Pixel 8", "SM-S918B", "Pixel 7a", "moto g84"]
PLANS = ["free", "free", "free", "starter", "starter", "pro", "pro", "enterprise"]
PAGES = ["/", "/pricing", "/products", "/products/lamp", "/blog", "/cart", "/account", "/help"]
SEARCH_TERMS = [
    "desk lamp", "standing desk", "usb-c hub", "monitor arm", "office chair", "keyboard",
    "headphones", "webcam", "notebook", "backpack", "water bottle", "plant",
]  # fmt: skip
PRODUCTS = [
    ("Desk Lamp", "39.00"), ("Standing Desk", "499.00"), ("USB-C Hub", "59.90"),
    ("Monitor Arm", "129.00"), ("Office Chair", "349.00"), ("Keyboard", "99.00"),
    ("Headphones", "199.00"), ("Webcam", "79.00"),
]  # fmt: skip
CURRENCIES = ["USD", "USD", "USD", "EUR", "EUR", "GBP", "CAD", "JPY"]
SIGNUP_METHODS = ["email", "google", "apple", "github"]
# (platform, source, mp_lib, $lib_version); purchases are imported by the shop's backend.
PLATFORMS = [
    ("web", "track/web 2.55.0", "web", "2.55.0"),
    ("ios", "track/swift 4.3.0", "swift", "4.3.0"),
    ("android", "track/android 7.3.0", "android", "7.3.0"),
]
SERVER_SOURCE, SERVER_LIB, SERVER_LIB_VERSION = "import/python 5.4.1", "python", "5.4.1"
SITE = "https://shop.example.com"

SIGN_UP = "Sign Up"
PAGE_VIEW = "Page View"
# Names of the events after sign-up, with their share in percent.
EVENT_MIX = [(PAGE_VIEW, 55), ("Search", 15), ("Add To Cart", 12), ("Login", 10), ("Purchase", 8)]
EVENT_NAMES = [SIGN_UP] + [name for name, _ in EVENT_MIX]

# Out of 1024: about 20% of users have a device link, 10% an alias, 5% a merged legacy id.
DEVICE_PER_1024, ALIAS_PER_1024, MERGE_PER_1024 = 205, 102, 51
# Skew of events over users: user x in [0, 1) gets a share proportional to 1 / (1 + SKEW x).
SKEW = 1000.0
