// How the Elasticsearch/OpenSearch check words failures the user fixes in the spec or on the server: a user that
// lacks privileges (403, at connect or while provisioning), a certificate that is not trusted, expired or for
// another host, and plain HTTP to an HTTPS port. Pure: the outcomes are built by hand, no server.
import { checkResult } from '../../src/storage/elasticsearch/check.js';
import { AuthError } from '../../src/storage/elasticsearch/client.js';
import { StorageError, UnavailableError } from '../../src/storage/api/errors.js';

const cfg = { endpoints: ['https://u:secret@es:9200'], indexPrefix: 'shop', layout: 'rollover' as const, credentialsSecretRef: { name: 'es-user' } };
const unreachable = (text: string, config: Parameters<typeof checkResult>[2] = cfg, type: 'elasticsearch' | 'opensearch' = 'elasticsearch') =>
  checkResult({ stage: 'connect', reason: 'Unreachable', error: new UnavailableError(`cannot reach ${config.endpoints.join(', ')}: ${text}; check spec.backend endpoints and that the server is up`) }, type, config).reachable;

describe('search check wording', () => {
  test('a 403 names the refused request and the privileges to grant, at connect and while provisioning', () => {
    const atConnect = checkResult(
      { stage: 'connect', reason: 'AuthenticationFailed', error: new AuthError('https://u:secret@es:9200 denied GET /_nodes/_local (403, action cluster:monitor/nodes/info, granted by the cluster privileges monitor, manage, all): give the user the privileges listed in the README', 403) },
      'elasticsearch',
      cfg,
    );
    expect(atConnect.reachable).toEqual({
      status: 'False',
      reason: 'AuthenticationFailed',
      message:
        'https://***@es:9200 accepted the user of spec.backend.elasticsearch.credentialsSecretRef but denied GET /_nodes/_local (403, action cluster:monitor/nodes/info, granted by the cluster privileges monitor, manage, all): ' +
        'the user lacks privileges; give its role the cluster privileges monitor, manage_index_templates and manage_ilm, and the index privileges create_index, delete_index, manage, read, write and view_index_metadata on shop-jaeger-* (README: Elasticsearch and OpenSearch privileges)',
    });
    const provisioning = checkResult(
      { stage: 'provision', distribution: 'opensearch', version: '2.19.1', error: new AuthError('https://os denied PUT /_index_template/shop-jaeger-spans-stream (403): the user needs ...', 403) },
      'opensearch',
      { endpoints: ['https://os:9200'], indexPrefix: 'shop', layout: 'dataStream', credentialsSecretRef: { name: 'os-user' } },
    );
    expect(provisioning.reachable).toMatchObject({ status: 'True', reason: 'Connected' });
    expect(provisioning.schema).toEqual({
      status: 'False',
      reason: 'ProvisioningFailed',
      message:
        'https://os:9200 accepted the user of spec.backend.opensearch.credentialsSecretRef but denied PUT /_index_template/shop-jaeger-spans-stream (403): the user lacks privileges; ' +
        'give its role the cluster permissions cluster_monitor, cluster_manage_index_templates and those of index state management, and indices_all on shop-jaeger-* and shop.jaeger.spans*',
    });
    // without credentials the fix is to give some
    const anonymous = checkResult({ stage: 'connect', reason: 'AuthenticationFailed', error: new AuthError('https://es:9200 denied GET / (403): ...', 403) }, 'elasticsearch', { endpoints: ['https://es:9200'] });
    expect(anonymous.reachable.message).toBe(
      'https://es:9200 denied GET / (403) without credentials: set spec.backend.elasticsearch.credentialsSecretRef to a user whose role has ' +
        'the cluster privileges monitor, manage_index_templates and manage_ilm, and the index privileges create_index, delete_index, manage, read, write and view_index_metadata on jaeger-* (README: Elasticsearch and OpenSearch privileges)',
    );
    // a 401 keeps the client's wording
    const wrong = checkResult({ stage: 'connect', reason: 'AuthenticationFailed', error: new AuthError('https://es:9200 refused the credentials (401): check the user name and password in the credentials Secret') }, 'elasticsearch', cfg);
    expect(wrong.reachable.message).toBe('https://es:9200 refused the credentials (401): check the user name and password in the credentials Secret');
  });

  test('certificate problems say what to change', () => {
    expect(unreachable('self-signed certificate in certificate chain')).toEqual({
      status: 'False',
      reason: 'Unreachable',
      message:
        'the TLS certificate of https://***@es:9200 is not trusted (self-signed certificate in certificate chain): put the CA that signed it in a Secret (key ca.crt) and name the Secret in ' +
        'spec.backend.elasticsearch.tls.caSecretRef, or set spec.backend.elasticsearch.tls.insecureSkipVerify: true to skip verification (testing only)',
    });
    expect(unreachable('unable to get local issuer certificate', { ...cfg, tls: { enabled: true, caSecretRef: { name: 'es-ca' } } }, 'opensearch').message).toBe(
      'the TLS certificate of https://***@es:9200 is not trusted (unable to get local issuer certificate): the CA in the Secret "es-ca" of spec.backend.opensearch.tls.caSecretRef did not sign it: put the CA that did there',
    );
    expect(unreachable('certificate has expired').message).toBe("the TLS certificate of https://***@es:9200 has expired: renew the server's certificate");
    expect(unreachable("Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list: 127.0.0.1").message).toBe(
      'the TLS certificate of https://***@es:9200 does not name the host of the endpoint: use a host name in spec.backend.elasticsearch.endpoints that the certificate lists',
    );
  });

  test('a connection closed on plain HTTP suggests https://; other failures keep their text', () => {
    const plain = { endpoints: ['http://es:9200'] };
    expect(unreachable('socket hang up', plain).message).toBe(
      'http://es:9200 closed the connection on a plain HTTP request: if the server serves HTTPS, use https:// in spec.backend.elasticsearch.endpoints (and its CA in spec.backend.elasticsearch.tls.caSecretRef)',
    );
    expect(unreachable('socket hang up').message).toBe('cannot reach https://***@es:9200: socket hang up; check spec.backend endpoints and that the server is up');
    expect(unreachable('connect ECONNREFUSED 127.0.0.1:9200', plain).message).toBe('cannot reach http://es:9200: connect ECONNREFUSED 127.0.0.1:9200; check spec.backend endpoints and that the server is up');
  });

  test("a server's own words never pick the wording: an HTTP answer is reported by method, path, status and error type only", () => {
    const answer = new StorageError('Unavailable', 'GET /: 400 self signed certificate in certificate chain; connection reset');
    (answer as StorageError & { status?: number }).status = 400;
    const r = checkResult({ stage: 'connect', reason: 'Unreachable', error: answer }, 'elasticsearch', { ...cfg, endpoints: ['http://es:9200'] }).reachable;
    expect(r.message).toBe('GET /: the backend answered HTTP 400');
  });

  test('a 401 without any credentials asks for credentialsSecretRef', () => {
    const error = new AuthError('https://es:9200 requires credentials (401) and none are configured: set credentialsSecretRef');
    const r = checkResult({ stage: 'connect', reason: 'AuthenticationFailed', error }, 'elasticsearch', { endpoints: ['https://es:9200'] }).reachable;
    expect(r).toEqual({ status: 'False', reason: 'AuthenticationFailed', message: 'https://es:9200 requires credentials (401): set spec.backend.elasticsearch.credentialsSecretRef to a Secret with a user name and password' });
  });
});
