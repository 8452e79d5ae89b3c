//! The protocol's bounds, without a socket.

#![allow(clippy::unwrap_used)]

use paychain_contracts::crypto::Hash;

use super::proto::*;

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn requests_round_trip_through_frames() {
    let request = Request::RememberAnswered {
        answered: vec![(7, Hash([3; 32]))],
    };
    let mut wire = Vec::new();
    write_frame(&mut wire, &request).unwrap();
    let body = read_frame(&mut wire.as_slice(), MAX_FRAME_BYTES).unwrap();
    assert_eq!(decode_request(&body).unwrap(), request);
    let reply: Response = Err(WireError::new(ErrorKind::Replayed, "again"));
    let mut wire = Vec::new();
    write_frame(&mut wire, &reply).unwrap();
    let body = read_frame(&mut wire.as_slice(), MAX_FRAME_BYTES).unwrap();
    assert_eq!(decode_response(&body).unwrap(), reply);
}

#[test]
fn an_oversized_frame_is_refused_before_its_body_is_read() {
    // Only the length header: reading the body would fail with an I/O error instead.
    let header = ((MAX_FRAME_BYTES + 1) as u32).to_le_bytes();
    match read_frame(&mut header.as_slice(), MAX_FRAME_BYTES) {
        Err(FrameError::TooLarge { len, max }) => {
            assert_eq!((len, max), (MAX_FRAME_BYTES + 1, MAX_FRAME_BYTES))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_frame(&mut [].as_slice(), MAX_FRAME_BYTES),
        Err(FrameError::Closed)
    ));
    // A body shorter than announced: an error, not a panic.
    let short = frame(&[0; 3]);
    assert!(matches!(
        read_frame(&mut &short[..5], MAX_FRAME_BYTES),
        Err(FrameError::Io(_))
    ));
}

#[test]
fn malformed_requests_are_refused_with_short_errors() {
    for (body, says) in [
        (&[0xff][..], "malformed request"),
        (&[0, 0][..], "trailing"),
        (&[][..], "malformed request"),
        // RememberAnswered announcing 2^32 - 1 entries with none there.
        (&[10, 0xff, 0xff, 0xff, 0xff][..], "malformed request"),
    ] {
        let e = decode_request(body).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        assert!(e.message.contains(says), "{body:?}: {}", e.message);
    }
    let too_many = Request::RememberAnswered {
        answered: vec![(0, Hash::ZERO); MAX_REMEMBERED_PER_FRAME + 1],
    };
    let e = decode_request(&borsh::to_vec(&too_many).unwrap()).unwrap_err();
    assert!(e.message.contains("exceed the limit"), "{}", e.message);
    let long = WireError::new(ErrorKind::Refused, "x".repeat(10_000));
    assert!(long.message.chars().count() <= MAX_ERROR_CHARS + 1);
}
