//! Test helper for `paychain_tests::netns`: run inside a network namespace (`ip netns exec NS
//! paychain-netns-forward SOCKET PORT`), it accepts connections on the Unix socket SOCKET (a path,
//! which namespaces do not separate) and forwards each to 127.0.0.1:PORT inside the namespace, so
//! the tests in the root namespace reach a node's RPC without any interface of their own there.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::thread;

fn pipe(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn serve(client: UnixStream, port: u16) -> std::io::Result<()> {
    let node = TcpStream::connect(("127.0.0.1", port))?;
    let (c2, n2) = (client.try_clone()?, node.try_clone()?);
    let back = thread::spawn(move || {
        pipe(&n2, &c2);
        let _ = c2.shutdown(Shutdown::Write);
    });
    pipe(&client, &node);
    let _ = node.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(socket), Some(Ok(port))) = (args.get(1), args.get(2).map(|p| p.parse::<u16>()))
    else {
        eprintln!("usage: paychain-netns-forward SOCKET PORT");
        std::process::exit(2);
    };
    let _ = std::fs::remove_file(socket);
    let listener = match UnixListener::bind(socket) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: bind {socket}: {e}");
            std::process::exit(1);
        }
    };
    for client in listener.incoming().flatten() {
        thread::spawn(move || serve(client, port));
    }
}
