//! The SSH client against a real OpenSSH server.

use std::time::Duration;

use slipway::ssh::{Exit, Session, SshError, Target, load_private_key};

use crate::sshd::{DEPLOY_USER, Sshd};

fn test_key() -> (std::sync::Arc<russh::keys::PrivateKey>, String) {
    let vault = slipway::crypto::Vault::from_key(&[7u8; 32]);
    let pair = slipway::crypto::new_ssh_key(&vault, "test");
    let private = String::from_utf8(vault.open(&pair.private_sealed).unwrap()).unwrap();
    let key = load_private_key(&private).unwrap();
    let public = key.public_key().to_openssh().unwrap();
    (key, public)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_commands_streams_input_and_pins_the_host_key() {
    let sshd = Sshd::start().await;
    let (key, public) = test_key();
    sshd.authorize(DEPLOY_USER, &public);
    let target = Target {
        host: "127.0.0.1".into(),
        port: sshd.port,
        user: DEPLOY_USER.into(),
    };
    let timeout = Duration::from_secs(10);

    let session = Session::connect(&target, key.clone(), None, timeout)
        .await
        .unwrap();
    assert_eq!(
        session.host_key.split_whitespace().nth(1),
        sshd.host_public_key().split_whitespace().nth(1)
    );
    let mut output = Vec::new();
    let exit = session
        .exec(
            "id -un; echo to-stderr >&2; exit 3",
            None::<&[u8]>,
            &mut |chunk| output.extend_from_slice(chunk),
        )
        .await
        .unwrap();
    assert_eq!(exit, Exit::Code(3));
    let text = String::from_utf8(output).unwrap();
    assert!(
        text.contains(DEPLOY_USER) && text.contains("to-stderr"),
        "{text}"
    );

    // Input is streamed to the command.
    let payload = vec![b'x'; 300_000];
    let mut output = Vec::new();
    let exit = session
        .exec("wc -c", Some(&payload[..]), &mut |chunk| {
            output.extend_from_slice(chunk)
        })
        .await
        .unwrap();
    assert!(exit.success());
    assert_eq!(String::from_utf8(output).unwrap().trim(), "300000");
    let pinned = session.host_key.clone();
    session.close().await;

    // The pinned key is accepted; a changed one is refused with a clear reason.
    Session::connect(&target, key.clone(), Some(&pinned), timeout)
        .await
        .unwrap()
        .close()
        .await;
    sshd.change_host_key();
    match Session::connect(&target, key.clone(), Some(&pinned), timeout).await {
        Err(SshError::HostKeyChanged {
            expected, actual, ..
        }) => {
            assert!(expected.starts_with("SHA256:") && actual.starts_with("SHA256:"));
            assert_ne!(expected, actual);
        }
        Err(other) => panic!("expected a changed host key, got {other}"),
        Ok(_) => panic!("a changed host key was accepted"),
    }

    // An unknown user or key is refused.
    let stranger = Target {
        user: "root".into(),
        ..target.clone()
    };
    let refused = Session::connect(&stranger, key, None, timeout).await;
    assert!(
        matches!(refused, Err(SshError::AuthRejected(..))),
        "{:?}",
        refused.err()
    );
}
