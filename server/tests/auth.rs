//! Safe by default: loopback needs no token; with a token every request without it is a 401;
//! a non-loopback address without a usable token file refuses to start.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{answer, raw, url};
use mmv_server::{Server, ServerError, ServerOptions};

#[test]
fn without_the_token_every_request_is_401() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let mut options = ServerOptions::new("127.0.0.1:0".parse().unwrap(), token_file.clone());
    options.require_token = true;
    let server = Server::start(&options, None, None).unwrap();
    assert!(server.needs_token());
    let addr = server.addr();
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    for path in [
        "/",
        "/app.js",
        "/api/info",
        "/api/search?q=seven",
        "/nothing",
        "/api/files/1",
    ] {
        let (status, body) = answer(ureq::get(&url(addr, path)).call());
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error"]["status"], 401);
        let (status, _) = answer(
            ureq::get(&url(addr, path))
                .set("Authorization", &format!("Bearer {}x", token))
                .call(),
        );
        assert_eq!(status, 401, "{path} with a wrong token");
    }
    let (status, _) = answer(ureq::post(&url(addr, "/api/search/upload")).send_bytes(b"x"));
    assert_eq!(status, 401);

    // The right token, three ways.
    let ok = |r: Result<ureq::Response, ureq::Error>| match r {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    };
    let info = url(addr, "/api/info");
    assert_eq!(
        ok(ureq::get(&info)
            .set("Authorization", &format!("Bearer {token}"))
            .call()),
        200
    );
    assert_eq!(ok(ureq::get(&info).set("X-MMV-Token", &token).call()), 200);
    assert_eq!(
        ok(ureq::get(&info)
            .set("Cookie", &format!("a=1; mmv_token={token}"))
            .call()),
        200
    );
    assert_eq!(
        ok(ureq::get(&url(addr, "/")).set("X-MMV-Token", &token).call()),
        200
    );

    // /?token=T sets the cookie and sends the browser to /; a wrong one is a 401.
    let (status, _) = raw(
        addr,
        format!("GET /?token={token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 303);
    let req = format!("GET /?token={token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut s, &mut text).unwrap();
    assert!(
        text.contains(&format!(
            "set-cookie: mmv_token={token}; HttpOnly; SameSite=Strict"
        )),
        "{text}"
    );
    let (status, _) = raw(
        addr,
        b"GET /?token=nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 401);
    server.stop();
}

#[test]
fn non_loopback_makes_a_token_or_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    // No way to store a token: no server.
    let options = ServerOptions::new(
        "0.0.0.0:0".parse().unwrap(),
        "/proc/self/no-such-dir/token".into(),
    );
    match Server::start(&options, None, None) {
        Err(ServerError::NoToken { .. }) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("started on 0.0.0.0 without a token"),
    }
    // A token file others can read: no server.
    let loose = dir.path().join("loose");
    std::fs::write(&loose, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let options = ServerOptions::new("0.0.0.0:0".parse().unwrap(), loose);
    let err = Server::start(&options, None, None).err().expect("refused");
    assert!(err.to_string().contains("others may read it"), "{err}");

    // First start: a token is made (0600), and requests without it get 401.
    let token_file = dir.path().join("token");
    let options = ServerOptions::new("0.0.0.0:0".parse().unwrap(), token_file.clone());
    let server = Server::start(&options, None, None).unwrap();
    assert!(server.needs_token());
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let local = format!("127.0.0.1:{}", server.addr().port())
        .parse()
        .unwrap();
    let (status, _) = answer(ureq::get(&url(local, "/api/info")).call());
    assert_eq!(status, 401);
    let token = std::fs::read_to_string(&token_file).unwrap();
    let (status, body) = answer(
        ureq::get(&url(local, "/api/info"))
            .set("Authorization", &format!("Bearer {}", token.trim()))
            .call(),
    );
    assert_eq!(status, 200);
    assert_eq!(body["index"], serde_json::Value::Null);
    // Without an index the search routes say so.
    let (status, body) = answer(
        ureq::get(&url(local, "/api/search?q=seven"))
            .set("X-MMV-Token", token.trim())
            .call(),
    );
    assert_eq!(status, 404, "{body}");
}
