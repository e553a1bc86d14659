import { MAKE_SECRETS_KEY, SecretBox } from '../common/secret-box';

/**
 * The SecretBox of the migrations that seal rows written in plain text before secrets were encrypted. TypeORM
 * makes the migration objects itself, so the data source's owner hands the box over here before they run
 * (dataSourceOptions).
 */
let box: SecretBox | undefined;

export function useSecretBoxForMigrations(secrets: SecretBox | undefined): void {
  box = secrets;
}

/** The box, or an error saying how to make a key when there is none. */
export function secretBoxForMigrations(): SecretBox {
  if (!box)
    throw new Error(`SECRETS_KEY is needed to encrypt the secrets stored in plain text: ${MAKE_SECRETS_KEY}`);
  return box;
}
