//! Invalidation: a message published by one store reaches the subscribers
//! of another (another connection, when in Redis), with its origin.

use std::time::Duration;

use aigw_repository::state::{Invalidation, InvalidationMessage, Subscription};

use super::support::{Backend, Harness, backend_tests};

backend_tests!(a_published_invalidation_reaches_a_subscriber_on_another_connection);

pub async fn next(subscription: &mut Subscription) -> InvalidationMessage {
    tokio::time::timeout(Duration::from_secs(5), subscription.recv())
        .await
        .expect("an invalidation within 5 s")
        .expect("the subscription is open")
}

async fn a_published_invalidation_reaches_a_subscriber_on_another_connection(backend: Backend) {
    let Some(harness) = Harness::new(backend).await else {
        return;
    };
    let publisher = &harness.state;
    let subscriber = harness.peer().await;
    let mut inbox = subscriber.subscribe();
    let mut own_echo = publisher.subscribe();

    publisher.publish(Invalidation::Snapshot).await.unwrap();
    publisher
        .publish(Invalidation::ApiKeyRevoked { id: "ak_42".into() })
        .await
        .unwrap();

    let first = next(&mut inbox).await;
    assert_eq!(first.event, Invalidation::Snapshot);
    assert_eq!(first.origin, publisher.instance_id());
    let second = next(&mut inbox).await;
    assert_eq!(
        second.event,
        Invalidation::ApiKeyRevoked { id: "ak_42".into() }
    );
    assert!(second.is_from(publisher.instance_id()));
    if backend != Backend::InProcess {
        assert!(
            !second.is_from(subscriber.instance_id()),
            "each instance has its own id"
        );
    }

    // The publisher hears its own echo and can tell it is its own.
    assert!(next(&mut own_echo).await.is_from(publisher.instance_id()));
    harness.finish().await;
}
