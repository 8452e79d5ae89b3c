//! Execution of wallet calls, and the ledger moves and payments other contracts make through the
//! wallet (collection, store, guardian).

// One module in two files: the wallet's types, state keys and queries are in mod.rs.
use super::*;

fn sender_platform(reader: &impl StateReader, ctx: &Context) -> Result<PlatformId, CallError> {
    match governance::member_by_key(reader, &ctx.sender)? {
        Some(m) if m.has_role(Role::Platform) => Ok(m.id),
        _ => Err(Error::NotAPlatform.into()),
    }
}

fn sender_host(reader: &impl StateReader, ctx: &Context) -> Result<PlatformId, CallError> {
    let id = sender_platform(reader, ctx)?;
    if host(reader, &id)?.is_none() {
        return Err(Error::NotQualifiedHost(id).into());
    }
    Ok(id)
}

/// The user's attestation, which must be `platform`'s.
fn hosted_user(
    reader: &impl StateReader,
    user_key: &PublicKey,
    platform: &PlatformId,
) -> Result<VerifiedUser, CallError> {
    let u = user(reader, user_key)?.ok_or(Error::UserNotVerified(*user_key))?;
    if u.host != *platform {
        return Err(Error::UserHostedElsewhere {
            user: *user_key,
            host: u.host,
            platform: platform.clone(),
        }
        .into());
    }
    Ok(u)
}

/// [`check_acquirer`], and the payment's route still holds: the acquirer's record is the version the
/// payer looked up, and the merchant accepts the acquirer ([`registry::check_route`]).
pub(crate) fn check_routed(
    reader: &impl StateReader,
    merchant_id: &MerchantId,
    acquirer: &PlatformId,
    route: &Route,
) -> Result<(), CallError> {
    if registry::merchant(reader, merchant_id)?.is_none() {
        return Err(Error::UnknownMerchant(merchant_id.clone()).into());
    }
    if !governance::member(reader, acquirer)?.is_some_and(|m| m.has_role(Role::Platform)) {
        return Err(Error::NotAnAcquirer {
            merchant_id: merchant_id.clone(),
            acquirer: acquirer.clone(),
        }
        .into());
    }
    let (merchant_id, acquirer) = (merchant_id.clone(), acquirer.clone());
    let changed = |now: String| Error::RecordChanged {
        merchant_id: merchant_id.clone(),
        acquirer: acquirer.clone(),
        routed: route.record_version,
        now,
    };
    match registry::check_route(reader, &merchant_id, &acquirer, route)? {
        Ok(()) => Ok(()),
        Err(RouteError::NoRecord) => Err(Error::NotAnAcquirer {
            merchant_id,
            acquirer,
        }
        .into()),
        Err(RouteError::Revoked) => Err(changed("revoked".to_owned()).into()),
        Err(RouteError::NotAccepted) => Err(Error::AcquirerNotAccepted {
            merchant_id,
            acquirer,
        }
        .into()),
        Err(RouteError::Changed { current }) if current == route.record_version => {
            Err(changed(format!("version {current} with another payload")).into())
        }
        Err(RouteError::Changed { current }) => Err(changed(format!("version {current}")).into()),
    }
}

/// The merchant is registered and `acquirer` is a platform member with an active acquiring record
/// for it that the merchant accepted.
pub(crate) fn check_acquirer(
    reader: &impl StateReader,
    merchant_id: &MerchantId,
    acquirer: &PlatformId,
) -> Result<(), CallError> {
    if registry::merchant(reader, merchant_id)?.is_none() {
        return Err(Error::UnknownMerchant(merchant_id.clone()).into());
    }
    let acquiring = registry::platforms_of(reader, merchant_id)?
        .binary_search(acquirer)
        .is_ok()
        && governance::member(reader, acquirer)?.is_some_and(|m| m.has_role(Role::Platform));
    if !acquiring {
        return Err(Error::NotAnAcquirer {
            merchant_id: merchant_id.clone(),
            acquirer: acquirer.clone(),
        }
        .into());
    }
    Ok(())
}

/// Whether `party` holds a valid certificate of `role` at block time `time_ms`: `Ok(Err(refusal))`
/// naming the party as `who` when it does not.
fn certified_as(
    reader: &impl StateReader,
    who: impl FnOnce() -> String,
    party: &PublicKey,
    role: PartyRole,
    time_ms: u64,
) -> Result<Result<ca::PartyCert, Error>, StateError> {
    Ok(
        ca::certified(reader, party, role, time_ms)?.map_err(|reason| Error::NotCertified {
            who: who(),
            party: *party,
            reason: Box::new(reason),
        }),
    )
}

/// Whether the payer `payer` holds a valid user certificate at block time `time_ms`: a party whose
/// certificate was revoked (or expired, or whose platform's CA was) no longer pays, even from a
/// wallet opened while it was certified. `Ok(Err(refusal))` when it does not.
pub(crate) fn payer_certified(
    reader: &impl StateReader,
    payer: &PublicKey,
    time_ms: u64,
) -> Result<Result<(), Error>, StateError> {
    Ok(certified_as(reader, || "payer".into(), payer, PartyRole::User, time_ms)?.map(|_| ()))
}

/// Whether merchant `merchant_id` is registered and its key holds a valid merchant certificate at
/// block time `time_ms`. `Ok(Err(refusal))` when not.
pub(crate) fn payee_certified(
    reader: &impl StateReader,
    merchant_id: &MerchantId,
    time_ms: u64,
) -> Result<Result<(), Error>, StateError> {
    let Some(m) = registry::merchant(reader, merchant_id)? else {
        return Ok(Err(Error::UnknownMerchant(merchant_id.clone())));
    };
    Ok(certified_as(
        reader,
        || format!("merchant {merchant_id}"),
        &m.merchant_key,
        PartyRole::Merchant,
        time_ms,
    )?
    .map(|_| ()))
}

/// [`payer_certified`] as a refusal.
pub(crate) fn check_payer(
    reader: &impl StateReader,
    payer: &PublicKey,
    time_ms: u64,
) -> Result<(), CallError> {
    Ok(payer_certified(reader, payer, time_ms)??)
}

/// [`payee_certified`] as a refusal.
pub(crate) fn check_payee(
    reader: &impl StateReader,
    merchant_id: &MerchantId,
    time_ms: u64,
) -> Result<(), CallError> {
    Ok(payee_certified(reader, merchant_id, time_ms)??)
}

fn check_amount(amount: &Amount, currency: Currency) -> Result<(), Error> {
    amount.validate()?;
    amount.expect_currency(currency)?;
    Ok(())
}

fn check_order_ref(order_ref: &str) -> Result<(), Error> {
    let ok = !order_ref.is_empty()
        && order_ref.len() <= MAX_ORDER_REF_LEN
        && order_ref.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidOrderRef(
            order_ref.chars().take(MAX_ORDER_REF_LEN).collect(),
        ))
    }
}

/// Moves `amount` from `debit` to `credit`, appending one entry to each. The caller has checked
/// the amount and that a non-negative debit account covers it; this checks again (a refusal, not a
/// negative balance, if it did not). Used by [`crate::collection`] too: every movement of money
/// goes through here.
pub(crate) fn transfer<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    kind: MovementKind,
    debit: &Account,
    credit: &Account,
    amount: &Amount,
    reference: &str,
) -> Result<(), CallError> {
    let digits = amount.currency.minor_units().map_err(Error::from)?;
    let movement: u64 = get_decoded(ov, MOVEMENTS_KEY)?.unwrap_or(0);
    put_encoded(ov, MOVEMENTS_KEY.to_vec(), &movement.saturating_add(1));
    for (account, side, counterparty) in
        [(debit, Side::Debit, credit), (credit, Side::Credit, debit)]
    {
        let mut st = account_state(ov, account)?.unwrap_or(AccountState {
            currency: amount.currency,
            balance: Decimal::ZERO,
            entries: 0,
        });
        amount.expect_currency(st.currency).map_err(Error::from)?;
        let mut next = match side {
            Side::Debit => money::checked_sub(st.balance, amount.value, amount.currency),
            Side::Credit => money::checked_add(st.balance, amount.value, amount.currency),
        }
        .map_err(Error::from)?;
        if next < Decimal::ZERO && !account.may_go_negative() {
            return Err(insufficient(account, st.balance, amount).into());
        }
        if let (Account::Clearing { platform, currency }, Side::Debit) = (account, side) {
            let cap = net_debit_cap(ov, platform, *currency)?;
            if next < -cap {
                return Err(Error::NetDebitCapExceeded {
                    platform: platform.clone(),
                    currency: *currency,
                    cap: currency.format(cap),
                    would_owe: currency.format(-next),
                }
                .into());
            }
        }
        next.rescale(digits);
        let e = StatementEntry {
            seq: st.entries,
            movement,
            height: ctx.height,
            time_ms: ctx.time_ms,
            tx_hash: ctx.tx_hash,
            kind,
            side,
            amount: *amount,
            counterparty: counterparty.clone(),
            balance_after: next,
            reference: reference.to_owned(),
        };
        put_encoded(ov, entry_key(account, st.entries), &e);
        st.balance = next;
        st.entries = st.entries.saturating_add(1);
        put_encoded(ov, key_of(ACCOUNT_PREFIX, account.key().as_bytes()), &st);
    }
    Ok(())
}

/// What a merchant payment names: the merchant, the acquirer and the record it was routed by, the
/// amount and the merchant's order.
pub(crate) struct PayTo<'a> {
    pub(crate) merchant_id: &'a MerchantId,
    pub(crate) acquirer: &'a PlatformId,
    pub(crate) amount: &'a Amount,
    pub(crate) order_ref: &'a str,
    pub(crate) route: &'a Route,
}

/// Pays `to.merchant_id` through `to.acquirer` from wallet `w` (the caller has checked who may debit
/// it): checks the amount, the order reference (one payment per merchant and order), the acquirer
/// and its route, that the merchant and the payer (the wallet's owner) hold valid certificates at
/// the block's time ([`check_payee`], [`check_payer`]), and the balance, moves the money to the
/// merchant's to-be-settled account and records the [`Payment`] under the tx hash. Used by
/// [`Call::Pay`] and by [`crate::guardian`]'s delegated payments, so both follow the same rules and
/// refunds and certificates treat them alike.
pub(crate) fn pay_merchant<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    w: &Wallet,
    to: PayTo<'_>,
) -> Result<Payment, CallError> {
    let PayTo {
        merchant_id,
        acquirer,
        amount,
        order_ref,
        route,
    } = to;
    check_amount(amount, w.currency)?;
    check_order_ref(order_ref)?;
    check_routed(ov, merchant_id, acquirer, route)?;
    check_payee(ov, merchant_id, ctx.time_ms)?;
    check_payer(ov, &w.owner, ctx.time_ms)?;
    if let Some(id) = get_decoded::<Hash>(ov, &order_key(merchant_id, order_ref))? {
        return Err(Error::OrderAlreadyPaid {
            order_ref: order_ref.to_owned(),
            merchant_id: merchant_id.clone(),
            payment: id,
        }
        .into());
    }
    let debit = Account::Wallet { id: w.id };
    let holds = balance(ov, &debit)?;
    if holds < amount.value {
        return Err(insufficient(&debit, holds, amount).into());
    }
    let credit = Account::ToBeSettled {
        merchant_id: merchant_id.clone(),
        acquirer: acquirer.clone(),
        currency: w.currency,
    };
    let id = ctx.tx_hash;
    transfer(
        ov,
        ctx,
        MovementKind::Payment,
        &debit,
        &credit,
        amount,
        &format!("{id} {order_ref}"),
    )?;
    let p = Payment {
        id,
        payer: w.owner,
        from_wallet: w.id,
        merchant_id: merchant_id.clone(),
        acquirer: acquirer.clone(),
        amount: *amount,
        order_ref: order_ref.to_owned(),
        route: Some(*route),
        height: ctx.height,
        time_ms: ctx.time_ms,
        refunded: Decimal::ZERO,
    };
    put_encoded(ov, key_of(PAYMENT_PREFIX, &id.0), &p);
    put_encoded(ov, order_key(merchant_id, order_ref), &id);
    Ok(p)
}

/// The `payment` event of a merchant payment.
pub(crate) fn payment_event(p: &Payment) -> Event {
    let e = Event::new("payment")
        .with("payment_id", p.id.to_string())
        .with("wallet_id", p.from_wallet.to_string())
        .with("merchant_id", p.merchant_id.as_str())
        .with("acquirer", p.acquirer.as_str())
        .with("amount", p.amount.value.to_string())
        .with("currency", p.amount.currency.code())
        .with("order_ref", p.order_ref.clone());
    match p.route {
        Some(r) => e.with("record_version", r.record_version.to_string()),
        None => e,
    }
}

fn insufficient(account: &Account, holds: Decimal, amount: &Amount) -> Error {
    let holds = amount.currency.format(holds);
    let needs = amount.to_string();
    match account {
        Account::Wallet { id } => Error::InsufficientBalance {
            wallet: *id,
            holds,
            needs,
        },
        Account::ToBeSettled {
            merchant_id,
            acquirer,
            ..
        } => Error::ToBeSettledShort {
            merchant_id: merchant_id.clone(),
            acquirer: acquirer.clone(),
            holds,
            purpose: "movement".into(),
            needs,
        },
        Account::Escrow { .. } => Error::EscrowShort { holds, needs },
        // Never reached: clearing accounts may go negative.
        Account::Clearing { .. } => Error::Money(money::Error::Overflow(amount.currency)),
    }
}

fn to_be_settled_covers(
    reader: &impl StateReader,
    account: &Account,
    amount: &Amount,
    purpose: &str,
) -> Result<(), CallError> {
    let holds = balance(reader, account)?;
    if holds < amount.value {
        if let Account::ToBeSettled {
            merchant_id,
            acquirer,
            ..
        } = account
        {
            return Err(Error::ToBeSettledShort {
                merchant_id: merchant_id.clone(),
                acquirer: acquirer.clone(),
                holds: amount.currency.format(holds),
                purpose: purpose.to_owned(),
                needs: amount.to_string(),
            }
            .into());
        }
    }
    Ok(())
}

/// Runs a wallet call.
pub(crate) fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call {
        Call::VerifyUser {
            user: user_key,
            name_hash,
            id_hash,
            phone_hash,
        } => {
            let platform = sender_host(ov, ctx)?;
            if user_key.validate().is_err() {
                return Err(Error::InvalidUserKey(*user_key).into());
            }
            if let Some(u) = user(ov, user_key)? {
                if u.host != platform {
                    return Err(Error::UserHostedElsewhere {
                        user: *user_key,
                        host: u.host,
                        platform,
                    }
                    .into());
                }
            }
            let u = VerifiedUser {
                user: *user_key,
                host: platform.clone(),
                name_hash: *name_hash,
                id_hash: *id_hash,
                phone_hash: *phone_hash,
                verified_at: ctx.height,
                verified_at_ms: ctx.time_ms,
            };
            put_encoded(ov, key_of(USER_PREFIX, &user_key.0), &u);
            Ok(vec![Event::new("user_verified")
                .with("user", user_key.to_string())
                .with("host", platform.as_str())])
        }
        Call::OpenWallet {
            user: user_key,
            currency,
        } => {
            let platform = sender_host(ov, ctx)?;
            hosted_user(ov, user_key, &platform)?;
            // A wallet opens only for a party certified as a user by its host's CA.
            let owner = || "wallet owner".to_owned();
            let cert = certified_as(ov, owner, user_key, PartyRole::User, ctx.time_ms)??;
            if cert.platform != platform {
                return Err(Error::NotCertified {
                    who: owner(),
                    party: *user_key,
                    reason: Box::new(ca::Error::PlatformMismatch {
                        cert_platform: cert.platform,
                        sender: platform,
                    }),
                }
                .into());
            }
            currency.minor_units().map_err(Error::from)?;
            let id = wallet_id(user_key, *currency);
            if wallet(ov, &id)?.is_some() {
                return Err(Error::WalletExists {
                    user: *user_key,
                    currency: *currency,
                    wallet: id,
                }
                .into());
            }
            let w = Wallet {
                id,
                owner: *user_key,
                currency: *currency,
                host: platform.clone(),
                opened_at: ctx.height,
                opened_at_ms: ctx.time_ms,
            };
            put_encoded(ov, key_of(WALLET_PREFIX, &id.0), &w);
            let index_key = key_of(USER_WALLETS_PREFIX, &user_key.0);
            let mut ids: Vec<Hash> = get_decoded(ov, &index_key)?.unwrap_or_default();
            if let Err(pos) = ids.binary_search(&id) {
                ids.insert(pos, id);
            }
            put_encoded(ov, index_key, &ids);
            Ok(vec![Event::new("wallet_opened")
                .with("wallet_id", id.to_string())
                .with("user", user_key.to_string())
                .with("currency", currency.code())
                .with("host", platform.as_str())])
        }
        Call::RequestCardBinding {
            user: user_key,
            card_hash,
            otp_commitment,
        } => {
            let platform = sender_host(ov, ctx)?;
            hosted_user(ov, user_key, &platform)?;
            let cards = cards_of(ov, user_key)?;
            if cards.iter().any(|c| c.card_hash == *card_hash) {
                return Err(Error::CardAlreadyBound {
                    user: *user_key,
                    card: *card_hash,
                }
                .into());
            }
            if cards.len() >= MAX_CARDS_PER_USER {
                return Err(Error::TooManyCards(*user_key).into());
            }
            let id = card_binding_id(&ctx.sender, ctx.nonce);
            let b = CardBinding {
                id,
                user: *user_key,
                host: platform.clone(),
                card_hash: *card_hash,
                otp_commitment: *otp_commitment,
                requested_at: ctx.height,
                expires_at: ctx.height.saturating_add(CARD_BINDING_TTL_BLOCKS),
                attempts: 0,
                status: BindingStatus::Pending,
            };
            put_encoded(ov, key_of(BINDING_PREFIX, &id.0), &b);
            Ok(vec![Event::new("card_binding_requested")
                .with("binding_id", id.to_string())
                .with("user", user_key.to_string())
                .with("host", platform.as_str())
                .with("expires_at", b.expires_at.to_string())])
        }
        Call::ConfirmCardBinding { binding_id, otp } => {
            confirm_card_binding(ov, ctx, binding_id, otp)
        }
        Call::TopUp {
            wallet: wallet_key,
            amount,
            card_hash,
            mandate,
        } => {
            let platform = sender_host(ov, ctx)?;
            let w = wallet(ov, wallet_key)?.ok_or(Error::UnknownWallet(*wallet_key))?;
            if w.host != platform {
                return Err(Error::NotWalletHost {
                    wallet: w.id,
                    host: w.host,
                    platform,
                }
                .into());
            }
            check_amount(amount, w.currency)?;
            let bound = cards_of(ov, &w.owner)?
                .iter()
                .any(|c| c.card_hash == *card_hash && c.host == platform);
            if !bound {
                return Err(Error::CardNotBound {
                    user: w.owner,
                    card: *card_hash,
                    platform,
                }
                .into());
            }
            let signed = top_up_signing_bytes(
                &ctx.chain_id,
                wallet_key,
                amount,
                card_hash,
                &mandate.request_id,
            );
            if w.owner.verify(&signed, &mandate.signature).is_err() {
                return Err(Error::TopUpNotAuthorised(w.id).into());
            }
            let used = key_of(MANDATE_PREFIX, &mandate.request_id.0);
            if ov.get(&used)?.is_some() {
                return Err(Error::MandateUsed(mandate.request_id).into());
            }
            ov.put(used, w.id.0.to_vec());
            let debit = Account::Clearing {
                platform: platform.clone(),
                currency: w.currency,
            };
            let credit = Account::Wallet { id: w.id };
            transfer(
                ov,
                ctx,
                MovementKind::TopUp,
                &debit,
                &credit,
                amount,
                &card_hash.to_string(),
            )?;
            Ok(vec![Event::new("wallet_topped_up")
                .with("wallet_id", w.id.to_string())
                .with("amount", amount.value.to_string())
                .with("currency", amount.currency.code())
                .with("card_hash", card_hash.to_string())])
        }
        Call::Pay {
            from_wallet,
            merchant_id,
            acquirer,
            amount,
            order_ref,
            route,
        } => {
            let w = wallet(ov, from_wallet)?.ok_or(Error::UnknownWallet(*from_wallet))?;
            if w.owner != ctx.sender {
                return Err(Error::NotWalletOwner(w.id).into());
            }
            let to = PayTo {
                merchant_id,
                acquirer,
                amount,
                order_ref,
                route,
            };
            let p = pay_merchant(ov, ctx, &w, to)?;
            Ok(vec![payment_event(&p)])
        }
        Call::Settle {
            merchant_id,
            amount,
        } => {
            let platform = sender_platform(ov, ctx)?;
            if registry::merchant(ov, merchant_id)?.is_none() {
                return Err(Error::UnknownMerchant(merchant_id.clone()).into());
            }
            let tbs = |currency: Currency| Account::ToBeSettled {
                merchant_id: merchant_id.clone(),
                acquirer: platform.clone(),
                currency,
            };
            let mut moves: Vec<Amount> = Vec::new();
            match amount {
                Some(a) => {
                    a.validate().map_err(Error::from)?;
                    to_be_settled_covers(ov, &tbs(a.currency), a, "settlement")?;
                    moves.push(*a);
                }
                None => {
                    for currency in Currency::supported() {
                        let b = balance(ov, &tbs(currency))?;
                        if b > Decimal::ZERO {
                            moves.push(Amount { value: b, currency });
                        }
                    }
                    if moves.is_empty() {
                        return Err(Error::NothingToSettle {
                            merchant_id: merchant_id.clone(),
                            acquirer: platform,
                        }
                        .into());
                    }
                }
            }
            let mut events = Vec::new();
            for a in &moves {
                let clearing = Account::Clearing {
                    platform: platform.clone(),
                    currency: a.currency,
                };
                transfer(
                    ov,
                    ctx,
                    MovementKind::Settlement,
                    &tbs(a.currency),
                    &clearing,
                    a,
                    merchant_id.as_str(),
                )?;
                events.push(
                    Event::new("settled")
                        .with("merchant_id", merchant_id.as_str())
                        .with("acquirer", platform.as_str())
                        .with("amount", a.value.to_string())
                        .with("currency", a.currency.code()),
                );
            }
            Ok(events)
        }
        Call::Refund {
            payment: payment_id,
            amount,
        } => {
            let platform = sender_platform(ov, ctx)?;
            let mut p = payment(ov, payment_id)?.ok_or(Error::UnknownPayment(*payment_id))?;
            if p.acquirer != platform {
                return Err(Error::NotPaymentAcquirer {
                    payment: p.id,
                    acquirer: p.acquirer,
                }
                .into());
            }
            check_amount(amount, p.amount.currency)?;
            let refunded = money::checked_add(p.refunded, amount.value, amount.currency)
                .map_err(Error::from)?;
            if refunded > p.amount.value {
                return Err(Error::RefundExceedsPayment {
                    payment: p.id,
                    paid: p.amount.to_string(),
                    refunded: p.amount.currency.format(p.refunded),
                    requested: amount.to_string(),
                }
                .into());
            }
            let debit = Account::ToBeSettled {
                merchant_id: p.merchant_id.clone(),
                acquirer: platform.clone(),
                currency: p.amount.currency,
            };
            to_be_settled_covers(ov, &debit, amount, "refund")?;
            let credit = Account::Wallet { id: p.from_wallet };
            transfer(
                ov,
                ctx,
                MovementKind::Refund,
                &debit,
                &credit,
                amount,
                &p.id.to_string(),
            )?;
            p.refunded = refunded;
            put_encoded(ov, key_of(PAYMENT_PREFIX, &p.id.0), &p);
            Ok(vec![Event::new("refunded")
                .with("payment_id", p.id.to_string())
                .with("wallet_id", p.from_wallet.to_string())
                .with("amount", amount.value.to_string())
                .with("currency", amount.currency.code())
                .with("refunded_total", p.refunded.to_string())])
        }
    }
}

fn confirm_card_binding<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    binding_id: &Hash,
    otp: &str,
) -> Result<Vec<Event>, CallError> {
    let mut b = card_binding(ov, binding_id)?.ok_or(Error::UnknownBinding(*binding_id))?;
    if b.user != ctx.sender {
        return Err(Error::NotBindingUser {
            binding: b.id,
            user: b.user,
        }
        .into());
    }
    match b.status {
        BindingStatus::Bound => return Err(Error::BindingAlreadyConfirmed(b.id).into()),
        BindingStatus::Locked => {
            return Err(Error::BindingLocked {
                binding: b.id,
                attempts: b.attempts,
            }
            .into())
        }
        BindingStatus::Pending => {}
    }
    if ctx.height > b.expires_at {
        return Err(Error::BindingExpired {
            binding: b.id,
            expires_at: b.expires_at,
        }
        .into());
    }
    if host(ov, &b.host)?.is_none() {
        return Err(Error::NotQualifiedHost(b.host).into());
    }
    if !OTP_LEN.contains(&otp.len()) || !otp.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(Error::MalformedOtp.into());
    }
    let mut cards = cards_of(ov, &b.user)?;
    let pos = match cards.binary_search_by(|c| c.card_hash.cmp(&b.card_hash)) {
        Ok(_) => {
            return Err(Error::CardAlreadyBound {
                user: b.user,
                card: b.card_hash,
            }
            .into())
        }
        Err(pos) => pos,
    };
    if otp_commitment(&b.id, otp) != b.otp_commitment {
        b.attempts = b.attempts.saturating_add(1);
        if b.attempts >= MAX_OTP_ATTEMPTS {
            b.status = BindingStatus::Locked;
        }
        put_encoded(ov, key_of(BINDING_PREFIX, &b.id.0), &b);
        return Err(CallError::refused_keep(Error::WrongOtp {
            binding: b.id,
            attempts_left: MAX_OTP_ATTEMPTS.saturating_sub(b.attempts),
        }));
    }
    if cards.len() >= MAX_CARDS_PER_USER {
        return Err(Error::TooManyCards(b.user).into());
    }
    b.status = BindingStatus::Bound;
    put_encoded(ov, key_of(BINDING_PREFIX, &b.id.0), &b);
    cards.insert(
        pos,
        BoundCard {
            card_hash: b.card_hash,
            host: b.host.clone(),
            binding_id: b.id,
            bound_at: ctx.height,
        },
    );
    put_encoded(ov, key_of(CARDS_PREFIX, &b.user.0), &cards);
    Ok(vec![Event::new("card_bound")
        .with("binding_id", b.id.to_string())
        .with("user", b.user.to_string())
        .with("card_hash", b.card_hash.to_string())
        .with("host", b.host.as_str())])
}
