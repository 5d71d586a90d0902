import type { WalletStore } from '../../db/stores/wallets';

/**
 * Credit the wallet. With an Idempotency-Key the ledger row carries the key under a unique
 * constraint, in the crediting statement itself: a retry credits nothing and answers the first row.
 */
export function chargeWalletUseCase(deps: { wallets: WalletStore }) {
  return function chargeWallet(userId: string, amount: number, requestKey?: string) {
    return deps.wallets.charge(userId, amount, requestKey);
  };
}
