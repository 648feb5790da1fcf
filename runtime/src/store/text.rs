//! The sqlx encoding of the runtime's [`text_enum`](crate::text_enum)s: a
//! `TEXT` column (with a `CHECK` of the same texts). Decoding an unknown
//! text is an error, not a default: a row the code does not understand (one
//! a newer kradle wrote) is never taken for another state.

use super::intents::Phase as IntentPhase;
use crate::dispatch::ExecutionPhase;
use crate::dispatch::run::{
    ApprovalPhase, AttemptPhase, Backend, FailReason, Phase, Step, WorkspacePhase,
};
use crate::sync::Outcome as SyncOutcome;

macro_rules! sqlx_text {
    ($($name:ident),+ $(,)?) => {$(
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                $name::parse(text).ok_or_else(|| {
                    format!(concat!("`{}` is not a ", stringify!($name)), text).into()
                })
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }
    )+};
}

sqlx_text!(
    Phase,
    Step,
    Backend,
    FailReason,
    AttemptPhase,
    ApprovalPhase,
    WorkspacePhase,
    IntentPhase,
    ExecutionPhase,
    SyncOutcome
);
