"""A faithful fake kube-apiserver on loopback (HTTPS + bearer token) for tests, the demo and kubectl.

- `server`: `FakeApiServer` (lifecycle, the world it serves, routing of each request)
- `request_info`: what a resource URL addresses; `responses`: JSON, `Status` errors, Accept
- `reads`: get, list, watch and pod logs; `authorization`: the `forbidden` matrix, access reviews
- `connect`: pod port-forward and the service/pod proxy, over `relay` (bytes, v4.channel.k8s.io)
  and `spdy` (kubectl's SPDY/3.1 port-forward)
- `resources`: the resource table and discovery; `store`: one generation of objects;
  `select`: label/field selectors and continue tokens; `table`: server-side printing
"""
