//! EMVCo merchant codes: the spec's example, real codes of national schemes, malformed input,
//! property tests, and the `paychain qr` command.
//!
//! Every real-world sample names where it was collected. CRCs were recomputed independently
//! (CRC-16/CCITT-FALSE over the UTF-8 bytes up to and including `6304`) before being pinned here.

use std::process::Command;
use std::str::FromStr;

use paychain_client::contracts::ids::MerchantId;
use paychain_client::emvco::{
    self, decode, encode, Error, MerchantCodeSpec, NotPaychain, PointOfInitiation, Tip,
    MAX_PAYLOAD_CHARS,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Replaces the CRC of `body` (which ends in "6304") with the right one.
fn with_crc(body: &str) -> String {
    format!("{body}{:04X}", emvco::crc16(body.as_bytes()))
}

const MID: &str = "M0123456789ABCDEF0123";

fn merchant() -> MerchantId {
    MerchantId::from_str(MID).unwrap()
}

// ---- the EMVCo specification's example ----

/// EMV QR Code Specification for Payment Systems, Merchant-Presented Mode v1.1, Appendix A
/// (the "BEST TRANSPORT / BEIJING" example; CRC A13A). Collected from its copies in public test
/// suites (e.g. Exemvi's MPM tests, the EMVQR Go and .NET libraries).
const EMVCO_EXAMPLE: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";

#[test]
fn emvco_spec_example() {
    let c = decode(EMVCO_EXAMPLE).unwrap();
    assert_eq!(c.payload_format, "01");
    assert_eq!(c.point_of_initiation, Some(PointOfInitiation::Dynamic));
    assert_eq!(c.merchant_accounts.len(), 2);
    assert_eq!(c.merchant_accounts[0].tag, "29");
    assert_eq!(c.merchant_accounts[0].guid.as_deref(), Some("D15600000000"));
    assert_eq!(c.merchant_accounts[0].field("05"), Some("A93FO3230Q"));
    assert_eq!(c.merchant_accounts[1].field("03"), Some("12345678"));
    assert_eq!(c.mcc.as_deref(), Some("4111"));
    let cur = c.currency.as_ref().unwrap();
    assert_eq!((cur.numeric.as_str(), cur.alpha), ("156", Some("CNY")));
    assert_eq!(c.amount, Some(dec("23.72")));
    assert_eq!(c.tip, Some(Tip::Prompt));
    assert_eq!(c.country.as_deref(), Some("CN"));
    assert_eq!(c.merchant_name.as_deref(), Some("BEST TRANSPORT"));
    assert_eq!(c.merchant_city.as_deref(), Some("BEIJING"));
    let data = c.additional_data.as_ref().unwrap();
    assert_eq!(data.store_label.as_deref(), Some("1234"));
    assert_eq!(data.customer_label.as_deref(), Some("***"));
    assert_eq!(data.terminal_label.as_deref(), Some("A6008667"));
    assert_eq!(data.additional_consumer_data_request.as_deref(), Some("ME"));
    // Multibyte text: lengths are characters ("0104最佳运输" is 4 characters, 12 bytes).
    let lang = c.language.as_ref().unwrap();
    assert_eq!(lang.language_preference.as_deref(), Some("ZH"));
    assert_eq!(lang.merchant_name.as_deref(), Some("最佳运输"));
    assert_eq!(lang.merchant_city.as_deref(), Some("北京"));
    assert_eq!(c.unreserved_templates.len(), 1);
    assert_eq!(c.unreserved_templates[0].tag, "91");
    assert_eq!(
        c.unreserved_templates[0].guid.as_deref(),
        Some("A011223344998877")
    );
    assert_eq!(c.crc, "A13A");
    assert!(matches!(
        c.paychain_merchant(),
        Err(NotPaychain::UnknownScheme { .. })
    ));
    // Serialised with canonical snake_case names.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["merchant_name"], "BEST TRANSPORT");
    assert_eq!(json["point_of_initiation"], "dynamic");
    assert_eq!(json["amount"], "23.72");
    assert_eq!(json["language"]["merchant_city"], "北京");
    assert_eq!(json["tip"]["kind"], "prompt");
}

// ---- real codes of national schemes ----

/// Pix (Brazil): the example of the BCB "Manual de Padrões para Iniciação do Pix" (static code,
/// random key). Its CRC is 1D3D, as recomputed by the many public Pix libraries that pin it.
const PIX_BCB: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";

/// PayNow (Singapore): a merchant's SGQR sticker (PayNow UEN template 26 plus an SG.SGQR template
/// 51), scanned and published in poonchuanan/Python-PayNow-QR-Code-Generator's README.
const PAYNOW_SGQR: &str = "00020101021126430009SG.PAYNOW010120210T04SS0129D030110502QS51810007SG.SGQR011221073031741D020701.000103066003160402010503279060400000708202107305204000053037025802SG5925LOVING HEART MULTI-SERVIC6009Singapore6304A177";

/// PayNow (Singapore), dynamic with expiry and bill number: the example output in the README of
/// VirgilZhao/paynow (Go).
const PAYNOW_DYNAMIC: &str = "00020101021226470009SG.PAYNOW010120208123456780301004082026030452040000530370254040.995802SG5911testcompany6009Singapore62270123testordernumber1234567863040047";

/// PromptPay (Thailand): a dynamic bill code (template 29, GUID A000000677010111) as embedded in a
/// payment page's URL, found in dictotal/pay (src/platform/PAY/v-go/data.js). PromptPay omits
/// the merchant category, name and city the spec calls mandatory, and puts 53 and 58 before 29.
const PROMPTPAY: &str =
    "00020101021153037645802TH29370016A0000006770101110113006681017332754074999.9963040154";

/// QRIS (Indonesia): a dynamic DANA/QRIS code from Xendit's sandbox used in a public QRIS parser's
/// tests (template 26 ID.DANA.WWW, template 51 ID.CO.QRIS.WWW, payment-system template 62-60).
const QRIS_DANA: &str = "00020101021226570011ID.DANA.WWW011893600915015706056102091570605610303UME51440014ID.CO.QRIS.WWW0215ID20210807329890303UME5204893153033605405100005802ID5906XENDIT6015Kota Jakarta Se61051219062720115SzW8BPHhw35i1vT60490011ID.DANA.WWW0425MER2021071400774509608641050116304B00A";

/// DuitNow (Malaysia): Example 1 of PayNet's "DuitNow QR - Merchant-Presented Mode - Examples"
/// (docs.developer.paynet.my, V1.5). Payload format indicator "02", as DuitNow's spec says.
const DUITNOW: &str = "00020201021126410014A000000615000101065016640209123456789520499995303458540510.005802MY5909QRCSDNBHD6005BANGI6304343F";

/// VietQR (Vietnam, NAPAS): the example output in subiz/vietqr's README (template 38, GUID
/// A000000727, a nested bank-information sub-field 01, service QRIBFTTA).
const VIETQR: &str = "00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA530370454061200005802VN62170813ung ho lu lut6304C15C";

#[test]
fn pix_bcb_manual_example() {
    let c = decode(PIX_BCB).unwrap();
    assert_eq!(c.point_of_initiation, None);
    assert_eq!(
        c.merchant_accounts[0].field("01"),
        Some("123e4567-e12b-12d1-a456-426655440000")
    );
    assert_eq!(c.currency.as_ref().unwrap().alpha, Some("BRL"));
    assert_eq!(c.merchant_name.as_deref(), Some("Fulano de Tal"));
    assert_eq!(
        c.additional_data
            .as_ref()
            .unwrap()
            .reference_label
            .as_deref(),
        Some("***")
    );
    assert_eq!(c.scheme(), Some("Pix (Brazil)"));
    let err = c.paychain_merchant().unwrap_err();
    assert_eq!(
        err.to_string(),
        "this is a Pix (Brazil) code (GUID br.gov.bcb.pix), it carries no paychain merchant"
    );
}

#[test]
fn paynow_sgqr_sticker() {
    let c = decode(PAYNOW_SGQR).unwrap();
    assert_eq!(c.point_of_initiation, Some(PointOfInitiation::Static));
    let tags: Vec<&str> = c.merchant_accounts.iter().map(|a| a.tag.as_str()).collect();
    assert_eq!(tags, ["26", "51"]);
    assert_eq!(c.merchant_accounts[0].field("02"), Some("T04SS0129D"));
    assert_eq!(c.merchant_accounts[1].guid.as_deref(), Some("SG.SGQR"));
    // Exactly 25 characters: the sticker's name is cut at the spec's limit.
    assert_eq!(
        c.merchant_name.as_deref(),
        Some("LOVING HEART MULTI-SERVIC")
    );
    assert!(matches!(
        c.paychain_merchant(),
        Err(NotPaychain::OtherScheme {
            scheme: "PayNow (Singapore)",
            ..
        })
    ));
}

#[test]
fn paynow_dynamic() {
    let c = decode(PAYNOW_DYNAMIC).unwrap();
    assert_eq!(c.point_of_initiation, Some(PointOfInitiation::Dynamic));
    assert_eq!(c.merchant_accounts[0].field("04"), Some("20260304"));
    assert_eq!(c.amount, Some(dec("0.99")));
    assert_eq!(
        c.additional_data.as_ref().unwrap().bill_number.as_deref(),
        Some("testordernumber12345678")
    );
}

#[test]
fn promptpay_bill() {
    let c = decode(PROMPTPAY).unwrap();
    assert_eq!(c.merchant_accounts[0].tag, "29");
    assert_eq!(c.merchant_accounts[0].field("01"), Some("0066810173327"));
    assert_eq!(c.amount, Some(dec("4999.99")));
    assert_eq!(c.currency.as_ref().unwrap().alpha, Some("THB"));
    assert_eq!((c.mcc.as_ref(), c.merchant_name.as_ref()), (None, None));
    assert_eq!(c.scheme(), Some("PromptPay (Thailand)"));
    assert!(c
        .paychain_merchant()
        .unwrap_err()
        .to_string()
        .contains("GUID A000000677010111"));
}

#[test]
fn qris_dana() {
    let c = decode(QRIS_DANA).unwrap();
    // The first recognised scheme wins: ID.DANA.WWW is a QRIS member's own template.
    assert_eq!(c.scheme(), Some("QRIS (Indonesia)"));
    assert_eq!(c.merchant_accounts[1].field("02"), Some("ID2021080732989"));
    assert_eq!(c.amount, Some(dec("10000")));
    assert_eq!(c.merchant_city.as_deref(), Some("Kota Jakarta Se"));
    assert_eq!(c.postal_code.as_deref(), Some("12190"));
    let data = c.additional_data.as_ref().unwrap();
    assert_eq!(data.bill_number.as_deref(), Some("SzW8BPHhw35i1vT"));
    assert_eq!(data.other_fields[0].tag, "60");
}

#[test]
fn duitnow_paynet_example() {
    let c = decode(DUITNOW).unwrap();
    assert_eq!(c.payload_format, "02");
    assert_eq!(
        c.merchant_accounts[0].guid.as_deref(),
        Some("A0000006150001")
    );
    assert_eq!(c.merchant_accounts[0].field("02"), Some("123456789"));
    assert_eq!(c.currency.as_ref().unwrap().alpha, Some("MYR"));
    assert_eq!(c.amount, Some(dec("10.00")));
    assert_eq!(c.scheme(), Some("DuitNow (Malaysia)"));
}

#[test]
fn vietqr_napas() {
    let c = decode(VIETQR).unwrap();
    let account = &c.merchant_accounts[0];
    assert_eq!(account.tag, "38");
    assert_eq!(account.guid.as_deref(), Some("A000000727"));
    // One level deep: the nested bank information stays a string.
    assert_eq!(account.field("01"), Some("000697041501130011001932418"));
    assert_eq!(account.field("02"), Some("QRIBFTTA"));
    assert_eq!(c.amount, Some(dec("120000")));
    assert_eq!(c.currency.as_ref().unwrap().alpha, Some("VND"));
    assert_eq!(
        c.additional_data
            .as_ref()
            .unwrap()
            .purpose_of_transaction
            .as_deref(),
        Some("ung ho lu lut")
    );
}

/// A Pix "copia e cola" string shown in a storefront's source (KELLY FASHION, SAO PAULO): it was
/// made by hand from the BCB example and is broken: field 62 declares 41 characters where 7 remain,
/// and its CRC is the example's. Kept as a real-world malformed sample.
#[test]
fn real_world_broken_pix_is_refused() {
    let broken = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000520400005303986540510.005802BR5913KELLY FASHION6009SAO PAULO62410503***63041D3D";
    assert_eq!(
        decode(broken).unwrap_err(),
        Error::Truncated {
            id: "62".into(),
            declared: 41,
            remaining: 15
        }
    );
}

#[test]
fn lenient_where_real_codes_deviate() {
    // Lowercase CRC hex, whitespace and a newline around the code (as scanners deliver it).
    let lower = PIX_BCB.replace("63041D3D", "63041d3d");
    assert_eq!(decode(&format!("  {lower}\r\n")).unwrap().crc, "1D3D");
    // Unknown (RFU) fields are kept.
    let body = "00020101021126410012COM.PAYCHAIN0121M0123456789ABCDEF012352045812530315658\
                02CN5901A6001B7003xyz6304";
    let c = decode(&with_crc(body)).unwrap();
    assert_eq!(c.other_fields[0].tag, "70");
    assert_eq!(c.other_fields[0].value, "xyz");
    assert_eq!(c.paychain_merchant(), Ok(MID));
    // GUIDs compare without case.
    let body = "00020101021126410012com.paychain0121M0123456789ABCDEF01235802CN6304";
    assert_eq!(
        decode(&with_crc(body)).unwrap().paychain_merchant(),
        Ok(MID)
    );
}

// ---- malformed input: a clear error, never a panic ----

#[test]
fn bad_crc() {
    let bad = PIX_BCB.replace("63041D3D", "63041D3A");
    assert_eq!(
        decode(&bad).unwrap_err().to_string(),
        "CRC mismatch: code says 1D3A, computed 1D3D"
    );
    // A changed character anywhere is caught.
    let tampered = PIX_BCB.replace("Fulano", "Fulana");
    assert!(matches!(decode(&tampered), Err(Error::CrcMismatch { .. })));
    let not_hex = PIX_BCB.replace("63041D3D", "6304M2B3");
    assert!(matches!(decode(&not_hex), Err(Error::CrcNotHex { .. })));
}

#[test]
fn structure_errors() {
    let cut = &PIX_BCB[..PIX_BCB.len() - 10];
    assert!(matches!(decode(cut), Err(Error::Truncated { .. })));
    let e = decode("0002010102115930123456789012").unwrap_err();
    assert_eq!(
        e.to_string(),
        "field 59 declares 30 characters but only 12 remain"
    );
    assert!(matches!(decode("000201010211"), Err(Error::MissingCrc)));
    assert!(matches!(
        decode("0002010102115"),
        Err(Error::TruncatedHeader { .. })
    ));
    assert_eq!(
        decode("00020101A1116304ABCD").unwrap_err(),
        Error::BadLength {
            id: "01".into(),
            found: "A1".into()
        }
    );
    assert!(matches!(
        decode("000201X10211"),
        Err(Error::BadId { at: 6, .. })
    ));
    assert!(matches!(
        decode(&with_crc("0102110002016304")),
        Err(Error::FormatNotFirst { .. })
    ));
    assert!(matches!(
        decode("hello world"),
        Err(Error::FormatNotFirst { .. })
    ));
    assert_eq!(
        decode("00020163041D3D5802BR").unwrap_err(),
        Error::CrcNotLast { trailing: 6 }
    );
    assert!(matches!(
        decode("000201630500000"),
        Err(Error::CrcLength { .. })
    ));
    assert_eq!(
        decode(&with_crc("00020101021101021258025802BR6304")).unwrap_err(),
        Error::Duplicate { id: "01".into() }
    );
    // Inside a template too.
    assert_eq!(
        decode(&with_crc("00020126100001A0001B6304")).unwrap_err(),
        Error::Duplicate { id: "26-00".into() }
    );
    assert!(matches!(
        decode(&with_crc("0002012610Z001A0001B6304")),
        Err(Error::BadId { .. })
    ));
    assert!(matches!(decode("   \n"), Err(Error::Empty)));
}

#[test]
fn field_value_errors() {
    for (body, id) in [
        ("0002070102116304", "00"),
        ("0002010102136304", "01"),
        ("00020152035816304", "52"),
        ("000201540512,506304", "54"),
        ("00020154041.2.6304", "54"),
        ("0002015402-16304", "54"),
        ("0002015803CHN6304", "58"),
        ("0002015302AB6304", "53"),
        ("0002015502026304", "56"),
        ("0002015502096304", "55"),
    ] {
        match decode(&with_crc(body)) {
            Err(Error::InvalidField { id: got, .. }) => assert_eq!(got, id, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
    // A paychain template with a malformed merchant id, and a dynamic paychain code without order.
    let e = decode(&with_crc("00020126220012COM.PAYCHAIN0102M16304")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("field 26-01 (paychain merchant id)"),
        "{e}"
    );
    let body = "00020101021226410012COM.PAYCHAIN0121M0123456789ABCDEF012354041.006304";
    let e = decode(&with_crc(body)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "field 62-05 (order reference) is missing from a dynamic paychain code"
    );
}

#[test]
fn multibyte_text_is_counted_in_characters() {
    // "北京烤鸭店" is 5 characters and 15 bytes.
    let ok = with_crc("0002015905北京烤鸭店6304");
    assert_eq!(
        decode(&ok).unwrap().merchant_name.as_deref(),
        Some("北京烤鸭店")
    );
    // Declaring the byte count reads past the end.
    let bytes = with_crc("0002015915北京烤鸭店6304");
    assert!(matches!(
        decode(&bytes),
        Err(Error::Truncated { declared: 15, .. })
    ));
    // A length that lands in the middle of a multibyte character: no byte slicing, no panic.
    for cut in 1..6 {
        let s = format!(
            "0002015905{}6304ABCD",
            &"北京烤鸭店".chars().take(cut).collect::<String>()
        );
        assert!(decode(&s).is_err());
    }
    // The CRC covers the UTF-8 bytes.
    let c = decode(EMVCO_EXAMPLE).unwrap();
    assert_eq!(c.crc, "A13A");
}

#[test]
fn overlong_inputs_are_refused_before_parsing() {
    let big = "0".repeat(10 * 1024);
    assert_eq!(
        decode(&big).unwrap_err(),
        Error::TooLong {
            max: MAX_PAYLOAD_CHARS
        }
    );
    // 513 multibyte characters are refused, 512 are parsed.
    let over = "é".repeat(MAX_PAYLOAD_CHARS + 1);
    assert!(matches!(decode(&over), Err(Error::TooLong { .. })));
    let at_limit = "é".repeat(MAX_PAYLOAD_CHARS);
    assert!(matches!(
        decode(&at_limit),
        Err(Error::FormatNotFirst { .. })
    ));
    // A field cannot declare more than 99 characters: a long value is a length error.
    let long_name = format!("000201599{}6304", "A".repeat(120));
    assert!(decode(&long_name).is_err());
}

#[test]
fn random_bytes_never_panic() {
    // A fixed-seed xorshift, so failures reproduce.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..2000 {
        let mut bytes = Vec::new();
        for _ in 0..(x % 600) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push((x & 0xFF) as u8);
        }
        let s = String::from_utf8_lossy(&bytes);
        let _ = decode(&s);
        // And the same bytes behind a valid prefix.
        let _ = decode(&format!("000201{s}"));
    }
}

// ---- paychain codes: encode ----

#[test]
fn encode_static_and_dynamic() {
    let spec =
        MerchantCodeSpec::new(merchant(), "Noodle House", "Shanghai", "5812", "CNY", "CN").unwrap();
    let payload = encode(&spec);
    assert!(payload.starts_with("000201010211264100"));
    let c = decode(&payload).unwrap();
    assert_eq!(c.paychain_merchant(), Ok(MID));
    assert_eq!(c.scheme(), Some("paychain"));
    assert_eq!(c.point_of_initiation, Some(PointOfInitiation::Static));
    assert_eq!(c.amount, None);

    let spec = spec.with_payment(dec("12.5"), "ORDER-42").unwrap();
    let payload = encode(&spec);
    assert!(payload.contains("540512.50"), "{payload}");
    let c = decode(&payload).unwrap();
    assert_eq!(c.point_of_initiation, Some(PointOfInitiation::Dynamic));
    assert_eq!(c.amount, Some(dec("12.50")));
    assert_eq!(c.order_ref(), Some("ORDER-42"));
}

#[test]
fn encode_refuses_bad_specs() {
    let new = |name: &str, city: &str, mcc: &str, cur: &str, country: &str| {
        MerchantCodeSpec::new(merchant(), name, city, mcc, cur, country)
    };
    assert!(new(&"N".repeat(26), "C", "5812", "156", "CN").is_err());
    assert!(new(&"名".repeat(25), "C", "5812", "156", "CN").is_ok());
    assert!(new("N", &"C".repeat(16), "5812", "156", "CN").is_err());
    assert!(new("", "C", "5812", "156", "CN").is_err());
    assert!(new("N\n", "C", "5812", "156", "CN").is_err());
    assert!(new("N", "C", "58a2", "156", "CN").is_err());
    assert!(new("N", "C", "5812", "XYZ", "CN").is_err());
    assert!(new("N", "C", "5812", "156", "cn").is_err());
    let spec = new("N", "C", "5812", "156", "CN").unwrap();
    assert!(spec.clone().with_payment(dec("0"), "R").is_err());
    assert!(spec.clone().with_payment(dec("-1"), "R").is_err());
    assert!(spec.clone().with_payment(dec("1.005"), "R").is_err());
    assert!(spec.clone().with_payment(dec("1.500"), "R").is_ok());
    assert!(spec
        .clone()
        .with_payment(dec("12345678901.00"), "R")
        .is_err());
    assert!(spec.clone().with_payment(dec("1"), "").is_err());
    assert!(spec
        .clone()
        .with_payment(dec("1"), &"R".repeat(26))
        .is_err());
    let yen = new("N", "C", "5812", "392", "JP").unwrap();
    assert!(yen.clone().with_payment(dec("100.5"), "R").is_err());
    assert!(encode(&yen.with_payment(dec("100"), "R").unwrap()).contains("5403100"));
}

// ---- properties ----

fn text(max: usize) -> impl Strategy<Value = String> {
    // Letters, digits, punctuation and multibyte characters; no leading/trailing spaces.
    proptest::string::string_regex(&format!(
        "[A-Za-z0-9éü北京-][A-Za-z0-9 .éü北京-]{{0,{}}}",
        max - 1
    ))
    .unwrap()
    .prop_filter("no trailing space", |s| s.trim() == s)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn paychain_codes_round_trip(
        key in any::<[u8; 10]>(),
        name in text(25),
        city in text(15),
        mcc in "[0-9]{4}",
        currency in prop::sample::select(vec!["156", "840", "702", "392", "986"]),
        country in "[A-Z]{2}",
        payment in prop::option::of((1u64..=99_999_999_999u64, text(25))),
    ) {
        let id = MerchantId::from_str(&format!("M{}", hex::encode_upper(key))).unwrap();
        let mut spec = MerchantCodeSpec::new(id.clone(), &name, &city, &mcc, currency, &country).unwrap();
        let minor = if currency == "392" { 0 } else { 2 };
        if let Some((minor_units, order)) = &payment {
            let amount = Decimal::new(*minor_units as i64, minor);
            spec = spec.with_payment(amount, order).unwrap();
        }
        let payload = encode(&spec);
        prop_assert!(payload.chars().count() <= MAX_PAYLOAD_CHARS);
        let c = decode(&payload).unwrap();
        prop_assert_eq!(c.paychain_merchant(), Ok(id.as_str()));
        prop_assert_eq!(c.merchant_name.as_deref(), Some(name.as_str()));
        prop_assert_eq!(c.merchant_city.as_deref(), Some(city.as_str()));
        prop_assert_eq!(c.mcc.as_deref(), Some(mcc.as_str()));
        prop_assert_eq!(c.currency.as_ref().map(|c| c.numeric.as_str()), Some(currency));
        prop_assert_eq!(c.country.as_deref(), Some(country.as_str()));
        prop_assert_eq!(c.amount, spec.amount());
        prop_assert_eq!(c.order_ref(), spec.order_ref());
        let expected = if payment.is_some() { PointOfInitiation::Dynamic } else { PointOfInitiation::Static };
        prop_assert_eq!(c.point_of_initiation, Some(expected));
    }

    #[test]
    fn decode_never_panics(s in ".{0,600}") {
        let _ = decode(&s);
    }

    #[test]
    fn decode_never_panics_on_edited_codes(
        edits in prop::collection::vec((0usize..200, any::<char>()), 1..4),
    ) {
        let mut chars: Vec<char> = EMVCO_EXAMPLE.chars().collect();
        for (at, c) in edits {
            let at = at % chars.len();
            chars[at] = c;
        }
        let s: String = chars.into_iter().collect();
        let _ = decode(&s);
    }

    #[test]
    fn tlv_soup_never_panics(fields in prop::collection::vec(("[0-9]{2}", "[0-9A-Z北]{0,12}"), 0..20)) {
        let mut body = String::from("000201");
        for (tag, value) in &fields {
            body.push_str(&format!("{tag}{:02}{value}", value.chars().count()));
        }
        body.push_str("6304");
        let _ = decode(&with_crc(&body));
    }
}

// ---- the CLI ----

fn paychain(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_paychain"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cli_qr_encode_decode() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("code.png");
    let png = png.to_str().unwrap();
    let out = paychain(&[
        "--json",
        "qr",
        "encode",
        "--merchant",
        MID,
        "--name",
        "Café 北京",
        "--city",
        "Beijing",
        "--mcc",
        "5812",
        "--amount",
        "12.50",
        "--order",
        "ORD-7",
        "-o",
        png,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let payload = doc["payload"].as_str().unwrap().to_owned();
    assert_eq!(doc["point_of_initiation"], "dynamic");

    let out = paychain(&["--json", "qr", "decode", png]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["payload"], payload.as_str());
    assert_eq!(doc["paychain_merchant_id"], MID);
    assert_eq!(doc["merchant_name"], "Café 北京");
    assert_eq!(doc["amount"], "12.50");
    assert_eq!(doc["additional_data"]["reference_label"], "ORD-7");
    assert_eq!(doc["currency"]["alpha"], "CNY");

    // Payload text, human output.
    let out = paychain(&["qr", "decode", PIX_BCB]);
    assert!(out.status.success());
    let human = String::from_utf8(out.stdout).unwrap();
    assert!(
        human.contains("paychain merchant      none: this is a Pix (Brazil) code"),
        "{human}"
    );
    assert!(human.contains("merchant name          Fulano de Tal"));

    // Standard input, as text and as a PNG.
    for bytes in [PROMPTPAY.as_bytes().to_vec(), std::fs::read(png).unwrap()] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_paychain"))
            .args(["--json", "qr", "decode", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(doc["crc"].is_string());
    }

    // Terminal rendering without -o.
    let out = paychain(&[
        "qr",
        "encode",
        "--merchant",
        MID,
        "--name",
        "N",
        "--city",
        "C",
        "--mcc",
        "5812",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains('▄') && text.contains("payload 000201010211"));
}

#[test]
fn cli_qr_failures_are_one_line_with_code_2() {
    let bad_crc = PIX_BCB.replace("63041D3D", "63041D3A");
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["qr", "decode", &bad_crc],
            "error: invalid merchant code: CRC mismatch: code says 1D3A, computed 1D3D",
        ),
        (
            vec!["qr", "decode", "missing.png"],
            "error: missing.png is neither a file nor an EMVCo payload",
        ),
        (
            vec!["qr", "decode", blank.to_str().unwrap()],
            "error: no QR code found in the image",
        ),
        (
            vec![
                "qr",
                "encode",
                "--merchant",
                MID,
                "--name",
                "N",
                "--city",
                "C",
                "--mcc",
                "58",
            ],
            "error: field 52 (merchant category code) must be 4 digits",
        ),
        (
            vec![
                "qr",
                "encode",
                "--merchant",
                MID,
                "--name",
                "N",
                "--city",
                "C",
                "--mcc",
                "5812",
                "--amount",
                "1",
            ],
            "error: ",
        ),
        (
            vec![
                "qr",
                "encode",
                "--merchant",
                "M1",
                "--name",
                "N",
                "--city",
                "C",
                "--mcc",
                "5812",
            ],
            "error: ",
        ),
    ];
    for (args, want) in cases {
        let out = paychain(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(want), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn cli_expired_dynamic_code_is_refused_before_any_network_call() {
    let out = paychain(&[
        "--json",
        "qr",
        "encode",
        "--merchant",
        "M0123456789ABCDEF0123",
        "--name",
        "Shop",
        "--city",
        "Hangzhou",
        "--mcc",
        "5812",
        "--amount",
        "1.00",
        "--order",
        "O1",
        "--expires-in",
        "0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let payload = v["payload"].as_str().unwrap().to_owned();
    assert!(v["expires_at"].as_u64().is_some());
    // The RPC URL points nowhere: the expiry check must come first.
    let out = paychain(&[
        "--rpc",
        "http://127.0.0.1:1",
        "pay",
        "--code",
        &payload,
        "--key",
        "/nonexistent.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expired"), "{err}");
}
