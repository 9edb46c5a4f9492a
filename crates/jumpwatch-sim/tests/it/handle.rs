//! The embedding API: a simulator on its own runtime for code that is not async, and shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;

use jumpwatch_sim::Simulator;

fn get(addr: std::net::SocketAddr, path: &str, key: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nx-api-key: {key}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn a_spawned_simulator_serves_blocking_clients_and_stops_when_dropped() {
    let sim = Simulator::builder().seed(7).now(jumpwatch_sim::fixtures::now()).spawn().unwrap();
    let addr = sim.addr();
    assert!(sim.base_url().starts_with("http://127.0.0.1:") && !sim.base_url().ends_with('/'));
    let response = get(addr, "/api/systemusers?limit=1", sim.api_key());
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"totalCount\":50"));
    drop(sim);
    assert!(TcpStream::connect(addr).is_err(), "the port is closed after drop");
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sim = crate::support::sim().await;
    let addr = sim.addr();
    sim.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
