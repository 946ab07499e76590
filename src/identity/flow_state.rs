//! The progress of a multi-step flow (激活账号, 找回密码, 更换安全手机, 扫码登录 …), kept in
//! the server-side session as one value under one key per flow. A step reads the whole
//! state and finds out from it what came before, so no step is reachable out of order and
//! no handler spells a session key.

use std::future::Future;

use serde::{Serialize, de::DeserializeOwned};
use tower_sessions::{Session, session};

pub(crate) trait FlowState: Serialize + DeserializeOwned + Send + Sync {
    /// The session key, the only one this flow uses.
    const KEY: &'static str;

    /// The flow's state, if it was started in this session. A value of another shape (from
    /// an earlier release) counts as none: the flow starts over.
    fn load(
        session: &Session,
    ) -> impl Future<Output = Result<Option<Self>, session::Error>> + Send {
        async move {
            match session.get::<Self>(Self::KEY).await {
                Err(session::Error::SerdeJson(_)) => Ok(None),
                other => other,
            }
        }
    }

    fn save(&self, session: &Session) -> impl Future<Output = Result<(), session::Error>> + Send {
        async move { session.insert(Self::KEY, self).await }
    }

    fn clear(session: &Session) -> impl Future<Output = Result<(), session::Error>> + Send {
        async move {
            session.remove_value(Self::KEY).await?;
            Ok(())
        }
    }
}
