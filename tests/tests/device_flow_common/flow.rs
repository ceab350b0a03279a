//! Starting a device flow, and deciding it through the verification page as a browser does:
//! open the page for the code (which sets the CSRF cookie), then press Approve or Deny.
//!
//! Included as `mod flow;`, beside `fixture` and `csrf` (see `fixture.rs`).

use bytes::Bytes;
use http::Request;
use http::header::COOKIE;
use oauth_endpoints_tests::{Answer, form, post};

use crate::csrf::hidden_csrf;
use crate::fixture::Fixture;

/// The device codes of a started flow.
pub(crate) struct Started {
    pub(crate) device_code: String,
    pub(crate) user_code: String,
}

pub(crate) fn html(answer: &Answer) -> String {
    String::from_utf8_lossy(&answer.body).into_owned()
}

/// The `name=value` of the CSRF cookie an answer sets.
pub(crate) fn set_cookie(answer: &Answer) -> String {
    let header = answer.header("set-cookie").expect("a CSRF cookie");
    header.split(';').next().unwrap().to_owned()
}

fn form_value(value: &str) -> String {
    oauth_endpoints_tests::form_encode(value)
}

impl Fixture {
    pub(crate) async fn start(&self, client_id: &str) -> Started {
        let answer = self.device_authorization(client_id, Some("read")).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
        Started {
            device_code: answer.str("device_code").unwrap().to_owned(),
            user_code: answer.str("user_code").unwrap().to_owned(),
        }
    }

    pub(crate) async fn get_page(&self, query: &str, cookie: Option<&str>) -> Answer {
        let mut request = Request::get(format!("/device{query}"));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        self.h.send(request.body(Bytes::new()).unwrap()).await
    }

    pub(crate) async fn post_page(&self, cookie: Option<&str>, pairs: &[(&str, &str)]) -> Answer {
        let mut request = post("/device", None, &form(pairs));
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert(COOKIE, cookie.parse().unwrap());
        }
        self.h.send(request).await
    }

    /// What a browser does: open the page for the code, then press Approve or Deny.
    pub(crate) async fn decide(&self, typed: &str, action: &str) -> Answer {
        let page = self
            .get_page(&format!("?user_code={}", form_value(typed)), None)
            .await;
        assert_eq!(page.status, 200, "{}", html(&page));
        let cookie = set_cookie(&page);
        let csrf = hidden_csrf(&html(&page));
        self.post_page(
            Some(&cookie),
            &[("csrf", &csrf), ("user_code", typed), ("action", action)],
        )
        .await
    }
}
