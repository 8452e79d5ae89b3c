//! EMVCo codes: every tag's raw value kept beside its interpretation, the tip and convenience fee
//! fields (55, 56, 57) decoded, validated and encoded, and what the payer pays
//! (`MerchantCode::amount_due`).

use std::str::FromStr;

use paychain_client::contracts::ids::MerchantId;
use paychain_client::contracts::money::{Amount, Currency, MAX_AMOUNT};
use paychain_client::emvco::{
    self, decode, encode, DueError, Error, MerchantCode, MerchantCodeSpec, PointOfInitiation, Tag,
    Tip,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn with_crc(body: &str) -> String {
    format!("{body}{:04X}", emvco::crc16(body.as_bytes()))
}

fn cny(s: &str) -> Amount {
    Amount::new(dec(s), Currency::CNY).unwrap()
}

/// EMVCo MPM specification v1.1, Appendix A (see emvco.rs in this directory).
const EMVCO_EXAMPLE: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";

/// Pix (BCB manual's example).
const PIX_BCB: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";

/// QRIS (DANA): template 62 with a payment-system template 62-60.
const QRIS_DANA: &str = "00020101021226570011ID.DANA.WWW011893600915015706056102091570605610303UME51440014ID.CO.QRIS.WWW0215ID20210807329890303UME5204893153033605405100005802ID5906XENDIT6015Kota Jakarta Se61051219062720115SzW8BPHhw35i1vT60490011ID.DANA.WWW0425MER2021071400774509608641050116304B00A";

fn merchant() -> MerchantId {
    MerchantId::from_str("M0123456789ABCDEF0123").unwrap()
}

fn spec() -> MerchantCodeSpec {
    MerchantCodeSpec::new(merchant(), "Noodle Bar", "Shanghai", "5812", "CNY", "CN").unwrap()
}

/// The code again from its tags: id, length in characters, raw value, in order.
fn rebuild(tags: &[Tag]) -> String {
    tags.iter()
        .map(|t| format!("{}{:02}{}", t.id, t.value.chars().count(), t.value))
        .collect()
}

// ---- raw tags ----

#[test]
fn raw_tags_are_kept_beside_their_meaning() {
    let c = decode(EMVCO_EXAMPLE).unwrap();
    let ids: Vec<&str> = c.tags.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "00", "01", "29", "31", "52", "58", "59", "60", "64", "54", "53", "55", "62", "91",
            "63"
        ],
        "every field, in code order"
    );
    assert_eq!(rebuild(&c.tags), EMVCO_EXAMPLE);
    // Point of initiation: "12" and dynamic.
    let poi = c.tag("01").unwrap();
    assert_eq!(poi.value, "12");
    assert_eq!(poi.name, Some("point of initiation method"));
    assert_eq!(c.point_of_initiation, Some(PointOfInitiation::Dynamic));
    // Currency: "156" and CNY; amount as written.
    assert_eq!(c.tag("53").unwrap().value, "156");
    assert_eq!(c.currency.as_ref().unwrap().alpha, Some("CNY"));
    assert_eq!(c.tag("54").unwrap().value, "23.72");
    // Tip indicator "01" and the prompt.
    assert_eq!(c.tag("55").unwrap().value, "01");
    assert_eq!(c.tip, Some(Tip::Prompt));
    // Templates: the raw value and the sub-fields, each as written.
    let account = c.tag("29").unwrap();
    assert_eq!(account.value, "0012D156000000000510A93FO3230Q");
    assert_eq!(rebuild(&account.tags), account.value);
    assert_eq!(
        account.tag("00").unwrap().name,
        Some("globally unique identifier")
    );
    let data = c.tag("62").unwrap();
    assert_eq!(data.tag("07").unwrap().value, "A6008667");
    assert_eq!(data.tag("07").unwrap().name, Some("terminal label"));
    let lang = c.tag("64").unwrap();
    assert_eq!(lang.tag("01").unwrap().value, "最佳运输");
    assert_eq!(c.tag("63").unwrap().value, "A13A");
    // Primitive fields have no sub-fields.
    assert!(c.tag("59").unwrap().tags.is_empty());

    // In JSON (what `paychain qr decode --json` prints, flattened): "tags" beside the meaning.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["point_of_initiation"], "dynamic");
    assert_eq!(
        json["tags"][1],
        serde_json::json!({"id": "01", "name": "point of initiation method", "value": "12"})
    );
    assert_eq!(json["tags"][10]["value"], "156");
    assert_eq!(json["currency"]["alpha"], "CNY");
    assert_eq!(json["tags"][2]["tags"][0]["value"], "D15600000000");
    assert!(json["tags"][0].get("tags").is_none());
}

#[test]
fn payment_system_templates_in_62_are_parsed_one_level_further() {
    let c = decode(QRIS_DANA).unwrap();
    assert_eq!(rebuild(&c.tags), QRIS_DANA);
    let inner = c.tag("62").unwrap().tag("60").unwrap();
    assert_eq!(inner.name, Some("payment system specific template"));
    assert_eq!(inner.tag("00").unwrap().value, "ID.DANA.WWW");
    assert_eq!(rebuild(&inner.tags), inner.value);

    // paychain's collection code: the collection id in 62-50-01.
    let id = "ab".repeat(32);
    let payload = encode(&spec().with_collection(dec("100"), &id).unwrap());
    let c = decode(&payload).unwrap();
    let collection = c.tag("62").unwrap().tag("50").unwrap();
    assert_eq!(collection.tag("01").unwrap().value, id);

    // A 62-5x value that is not a template is kept as is, without sub-fields.
    let c = decode(&with_crc("000201620850040xyz6304")).unwrap();
    let odd = c.tag("62").unwrap().tag("50").unwrap();
    assert_eq!((odd.value.as_str(), odd.tags.len()), ("0xyz", 0));
}

// ---- tip and convenience fee: decoding ----

#[test]
fn tip_and_fee_fields_are_decoded() {
    let c = decode(&with_crc("00020155020256041.506304")).unwrap();
    assert_eq!(
        c.tip,
        Some(Tip::FixedFee {
            amount: dec("1.50")
        })
    );
    assert_eq!(c.tag("56").unwrap().value, "1.50");
    let c = decode(&with_crc("00020155020357043.006304")).unwrap();
    assert_eq!(
        c.tip,
        Some(Tip::PercentageFee {
            percent: dec("3.00")
        })
    );
    assert_eq!(c.tag("57").unwrap().value, "3.00");
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json["tip"],
        serde_json::json!({"kind": "percentage_fee", "percent": "3.00"})
    );
    for (percent, value) in [
        ("1", "1"),
        ("99.99", "99.99"),
        ("0.01", "0.01"),
        ("05.5", "5.5"),
    ] {
        let body = format!("00020155020357{:02}{percent}6304", percent.len());
        let c = decode(&with_crc(&body)).unwrap();
        assert_eq!(
            c.tip,
            Some(Tip::PercentageFee {
                percent: dec(value)
            }),
            "{percent}"
        );
    }
}

#[test]
fn tip_and_fee_field_errors() {
    for (body, id, reason) in [
        // 56 and 57 belong to their indicator.
        (
            "00020156041.006304",
            "56",
            "is present but field 55 is missing, not 02",
        ),
        (
            "00020155020156041.006304",
            "56",
            "is present but field 55 is \"01\", not 02",
        ),
        ("0002015502026304", "56", "is missing but field 55 is 02"),
        ("0002015502036304", "57", "is missing but field 55 is 03"),
        (
            "00020157043.006304",
            "57",
            "is present but field 55 is missing, not 03",
        ),
        (
            "00020155020256041.0057043.006304",
            "57",
            "is present but field 55 is \"02\", not 03",
        ),
        (
            "00020155020356041.0057043.006304",
            "56",
            "is present but field 55 is \"03\", not 02",
        ),
        // Malformed amounts and percentages.
        ("00020155020256041,006304", "56", "must be up to 13 digits"),
        ("00020155020256041.0.6304", "56", "must be up to 13 digits"),
        (
            "00020155020357040.006304",
            "57",
            "must be from 0.01 to 99.99",
        ),
        (
            "00020155020357031006304",
            "57",
            "must be from 0.01 to 99.99",
        ),
        (
            "00020155020357050.0056304",
            "57",
            "must have at most 2 decimals",
        ),
        (
            "0002015502035706003.006304",
            "57",
            "must be at most 5 characters",
        ),
        ("0002015502035702-16304", "57", "must be up to 13 digits"),
        ("0002015502046304", "55", "must be 01, 02 or 03"),
    ] {
        match decode(&with_crc(body)) {
            Err(Error::InvalidField {
                id: got,
                reason: why,
                ..
            }) => {
                assert_eq!(got, id, "{body}");
                assert!(why.contains(reason), "{body}: {why}");
            }
            other => panic!("{body}: {other:?}"),
        }
    }
    // The message names the field.
    let e = decode(&with_crc("00020156041.006304")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "field 56 (convenience fee fixed) is present but field 55 is missing, not 02"
    );
}

// ---- tip and convenience fee: encoding ----

#[test]
fn tip_and_fee_are_encoded() {
    let base = spec().with_payment(dec("100"), "ORD-1").unwrap();
    for (tip, fields) in [
        (Tip::Prompt, "550201"),
        (Tip::FixedFee { amount: dec("1.5") }, "55020256041.50"),
        (Tip::PercentageFee { percent: dec("3") }, "55020357043.00"),
        (
            Tip::PercentageFee {
                percent: dec("99.99"),
            },
            "550203570599.99",
        ),
    ] {
        let spec = base.clone().with_tip(tip.clone()).unwrap();
        let payload = encode(&spec);
        assert!(
            payload.contains(&format!("5406100.00{fields}5802CN")),
            "{payload}"
        );
        let c = decode(&payload).unwrap();
        let got = c.tip.clone().unwrap();
        assert_eq!(got, tip);
        assert_eq!(spec.tip(), Some(&tip));
        assert_eq!(got.indicator(), &fields[4..6]);
    }
    // A static code may carry them too.
    let payload = encode(&spec().with_tip(Tip::Prompt).unwrap());
    assert_eq!(decode(&payload).unwrap().tip, Some(Tip::Prompt));

    let yen = MerchantCodeSpec::new(merchant(), "N", "C", "5812", "JPY", "JP").unwrap();
    for (spec, tip) in [
        (spec(), Tip::FixedFee { amount: dec("0") }),
        (spec(), Tip::FixedFee { amount: dec("-1") }),
        (
            spec(),
            Tip::FixedFee {
                amount: dec("1.005"),
            },
        ),
        (
            spec(),
            Tip::FixedFee {
                amount: dec("10000000000.00"),
            },
        ),
        (yen, Tip::FixedFee { amount: dec("1.5") }),
        (spec(), Tip::PercentageFee { percent: dec("0") }),
        (
            spec(),
            Tip::PercentageFee {
                percent: dec("100"),
            },
        ),
        (
            spec(),
            Tip::PercentageFee {
                percent: dec("3.333"),
            },
        ),
    ] {
        assert!(
            matches!(spec.with_tip(tip.clone()), Err(Error::InvalidField { .. })),
            "{tip:?}"
        );
    }
}

// ---- what the payer pays ----

fn code(body: &str) -> MerchantCode {
    decode(&with_crc(body)).unwrap()
}

fn due(c: &MerchantCode, base: &str, tip: Option<&str>) -> Result<[String; 4], DueError> {
    let d = c.amount_due(cny(base), tip.map(dec))?;
    Ok([d.base, d.fee, d.tip, d.total].map(|a| a.to_string()))
}

#[test]
fn amount_due_adds_the_fee_the_code_states() {
    // No tip or fee.
    let plain = code("0002015303156540510.256304");
    assert_eq!(
        due(&plain, "10.25", None).unwrap(),
        ["10.25 CNY", "0.00 CNY", "0.00 CNY", "10.25 CNY"]
    );
    // A fixed fee.
    let fixed = code("0002015303156540510.2555020256031.56304");
    assert_eq!(
        due(&fixed, "10.25", None).unwrap(),
        ["10.25 CNY", "1.50 CNY", "0.00 CNY", "11.75 CNY"]
    );
    // A percentage fee, rounded half up: 3 % of 10.25 is 0.3075, so 0.31.
    let percent = code("0002015303156540510.25550203570136304");
    let d = percent.amount_due(cny("10.25"), None).unwrap();
    assert_eq!(d.fee.value.to_string(), "0.31");
    assert_eq!(d.total.value.to_string(), "10.56");
    assert_eq!(
        d.to_string(),
        "10.56 CNY (10.25 CNY + convenience fee 0.31 CNY)"
    );
    // Exactly half a fen rounds up (banker's rounding would give 0.00): 5 % of 0.10 is 0.005.
    let five = code("0002015303156550203570156304");
    assert_eq!(
        due(&five, "0.10", None).unwrap(),
        ["0.10 CNY", "0.01 CNY", "0.00 CNY", "0.11 CNY"]
    );
    // In a currency without decimals: 10 % of 25 JPY is 2.5, so 3 (banker's: 2).
    let yen = code("00020153033925502035702106304");
    let d = yen
        .amount_due(Amount::new(dec("25"), Currency::JPY).unwrap(), None)
        .unwrap();
    assert_eq!(
        (d.fee.to_string(), d.total.to_string()),
        ("3 JPY".to_owned(), "28 JPY".to_owned())
    );
    // Three decimals: 1.5 % of 1.001 BHD is 0.0150150, so 0.015.
    let dinar = code("000201530304855020357031.56304");
    let d = dinar
        .amount_due(Amount::new(dec("1.001"), Currency::BHD).unwrap(), None)
        .unwrap();
    assert_eq!(d.total.to_string(), "1.016 BHD");
}

#[test]
fn amount_due_asks_for_a_tip_only_when_the_code_does() {
    let prompt = code("0002015303156540510.255502016304");
    let e = prompt.amount_due(cny("10.25"), None).unwrap_err();
    assert_eq!(e, DueError::TipRequired);
    assert_eq!(
        e.to_string(),
        "this code asks for a tip: pass --tip AMOUNT (0 for none)"
    );
    assert_eq!(
        due(&prompt, "10.25", Some("0")).unwrap(),
        ["10.25 CNY", "0.00 CNY", "0.00 CNY", "10.25 CNY"]
    );
    let d = prompt.amount_due(cny("10.25"), Some(dec("2"))).unwrap();
    assert_eq!(d.tip.to_string(), "2.00 CNY");
    assert_eq!(d.total.to_string(), "12.25 CNY");
    assert_eq!(d.to_string(), "12.25 CNY (10.25 CNY + tip 2.00 CNY)");
    for bad in ["-1", "0.001"] {
        assert!(
            matches!(
                prompt.amount_due(cny("10.25"), Some(dec(bad))),
                Err(DueError::BadTip { .. })
            ),
            "{bad}"
        );
    }
    // Codes that do not ask refuse a tip, even zero.
    for body in [
        "0002015303156540510.256304",
        "0002015303156540510.2555020256031.56304",
        "0002015303156540510.25550203570136304",
    ] {
        let c = code(body);
        assert_eq!(
            c.amount_due(cny("10.25"), Some(Decimal::ZERO)),
            Err(DueError::TipNotAsked)
        );
    }
}

#[test]
fn amount_due_refusals() {
    let c = code("0002015303156540510.2555020256031.56304");
    // Not the code's amount, not its currency, not a payable amount.
    assert!(matches!(
        c.amount_due(cny("10.26"), None),
        Err(DueError::AmountMismatch { .. })
    ));
    let usd = Amount::new(dec("10.25"), Currency::USD).unwrap();
    assert_eq!(
        c.amount_due(usd, None).unwrap_err().to_string(),
        "currency mismatch: the code is in CNY (156), the payment in USD"
    );
    let zero = Amount {
        value: Decimal::ZERO,
        currency: Currency::CNY,
    };
    assert!(matches!(c.amount_due(zero, None), Err(DueError::Money(_))));
    // A fee that takes the total over the maximum amount.
    let static_fee = code("00020153031565502025605100.06304");
    let max = Amount::new(MAX_AMOUNT, Currency::CNY).unwrap();
    assert!(matches!(
        static_fee.amount_due(max, None),
        Err(DueError::Money(_))
    ));
    // A fixed fee with more decimals than the currency: the code is valid EMVCo, but cannot be paid.
    let fine = code("000201530315655020256051.0056304");
    assert!(matches!(
        fine.amount_due(cny("1"), None),
        Err(DueError::FeeDecimals { .. })
    ));
    // A currency paychain does not know, and a code without currency (the payer's is taken).
    let other = code("00020153039995502016304");
    assert!(matches!(
        other.amount_due(cny("1"), Some(Decimal::ZERO)),
        Err(DueError::CurrencyMismatch { .. })
    ));
    let none = code("0002015502016304");
    assert!(none.amount_due(cny("1"), Some(dec("0.5"))).is_ok());
}

#[test]
fn every_paychain_currency_has_its_emvco_number() {
    for currency in Currency::supported() {
        let numeric = emvco::currency_numeric(currency.code())
            .unwrap_or_else(|| panic!("{currency} has no ISO 4217 number here"));
        assert_eq!(emvco::currency_alpha(numeric), Some(currency.code()));
    }
}

// ---- properties ----

/// (alpha, numeric, minor units) of some paychain currencies.
const CURRENCIES: [(&str, &str, u32); 4] = [
    ("CNY", "156", 2),
    ("JPY", "392", 0),
    ("BHD", "048", 3),
    ("USD", "840", 2),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The percentage fee is `base × percent / 100` rounded half up to the minor unit, checked
    /// against integer arithmetic: in minor units, fee = (base × hundredths + 5000) / 10000.
    #[test]
    fn percentage_fee_rounds_half_up(
        which in 0usize..4,
        base_minor in 1u64..=100_000_000_000,
        hundredths in 1u64..=9999,
    ) {
        let (alpha, numeric, minor) = CURRENCIES[which];
        let currency = Currency::new(alpha).unwrap();
        let percent = Decimal::new(hundredths as i64, 2);
        let spec = MerchantCodeSpec::new(merchant(), "N", "C", "5812", numeric, "CN")
            .unwrap()
            .with_tip(Tip::PercentageFee { percent })
            .unwrap();
        let c = decode(&encode(&spec)).unwrap();
        let base = Amount::new(Decimal::new(base_minor as i64, minor), currency).unwrap();
        let d = c.amount_due(base, None).unwrap();
        let fee_minor = (u128::from(base_minor) * u128::from(hundredths) + 5000) / 10000;
        prop_assert_eq!(d.fee.value, Decimal::new(fee_minor as i64, minor));
        prop_assert_eq!(d.fee.value.scale(), minor);
        prop_assert_eq!(d.total.value, base.value + d.fee.value);
        prop_assert_eq!(d.total.value.scale(), minor);
        prop_assert!(d.fee.value <= base.value);
        prop_assert_eq!(d.tip.value, Decimal::ZERO);
    }

    /// Fixed fees and tips are added exactly; the total is always base + fee + tip.
    #[test]
    fn fixed_fee_and_tip_add_exactly(
        which in 0usize..4,
        base_minor in 1u64..=100_000_000_000,
        extra_minor in 0u64..=1_000_000_000,
        fee in any::<bool>(),
    ) {
        let (alpha, numeric, minor) = CURRENCIES[which];
        let currency = Currency::new(alpha).unwrap();
        let extra = Decimal::new(extra_minor as i64, minor);
        let mut spec = MerchantCodeSpec::new(merchant(), "N", "C", "5812", numeric, "CN")
            .unwrap()
            .with_payment(Decimal::new(base_minor as i64, minor), "R")
            .unwrap();
        let tip = if fee && extra_minor > 0 {
            spec = spec.with_tip(Tip::FixedFee { amount: extra }).unwrap();
            None
        } else {
            spec = spec.with_tip(Tip::Prompt).unwrap();
            Some(extra)
        };
        let payload = encode(&spec);
        let c = decode(&payload).unwrap();
        prop_assert_eq!(rebuild(&c.tags), payload);
        let base = Amount::new(c.amount.unwrap(), currency).unwrap();
        let d = c.amount_due(base, tip).unwrap();
        prop_assert_eq!(d.fee.value + d.tip.value, extra);
        prop_assert_eq!(d.total.value, base.value + extra);
        prop_assert_eq!(d.total.value.scale(), minor);
        // The other way round is refused.
        let other = if tip.is_some() { None } else { Some(Decimal::ZERO) };
        prop_assert!(c.amount_due(base, other).is_err());
    }

    /// Tags rebuild any code the decoder accepts, and each template's value from its sub-fields.
    #[test]
    fn tags_rebuild_the_code(fields in prop::collection::vec(("[0-9]{2}", "[0-9A-Z北]{0,12}"), 0..12)) {
        let mut body = String::from("000201");
        for (tag, value) in &fields {
            body.push_str(&format!("{tag}{:02}{value}", value.chars().count()));
        }
        body.push_str("6304");
        let payload = with_crc(&body);
        if let Ok(c) = decode(&payload) {
            prop_assert_eq!(rebuild(&c.tags), payload);
            for t in c.tags.iter().filter(|t| !t.tags.is_empty()) {
                prop_assert_eq!(rebuild(&t.tags), t.value.clone());
            }
        }
    }
}

#[test]
fn real_codes_keep_their_tags() {
    for payload in [EMVCO_EXAMPLE, PIX_BCB, QRIS_DANA] {
        let c = decode(payload).unwrap();
        assert_eq!(rebuild(&c.tags), payload);
        assert_eq!(c.tags.last().unwrap().id, "63");
    }
}
