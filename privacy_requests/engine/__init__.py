"""The processing engine: a worker's hold on a request (`run`), the subject set's data
(`subjects`), and what each kind of request does with it (`registry`). The entry point the
jobs call is `privacy_requests.services.processing`."""
