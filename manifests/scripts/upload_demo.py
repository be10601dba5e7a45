"""Write the digits demo (a trained CNN and its dataset) and upload it to an s3:// prefix.

    python manifests/scripts/upload_demo.py s3://mlpipeline/edgeopt-demo

Credentials and endpoint come from the environment (AWS_*, EDGEOPT_S3_ENDPOINT_URL), as for every
edgeopt S3 access; cluster.sh sets them from KFP's MinIO secret through a port-forward.
"""

import sys
import tempfile
from pathlib import Path

import boto3


def main(prefix: str) -> None:
    import os

    from edgeopt.common.datasets import save_dataset
    from edgeopt.demo.digits import digits_dataset, train_digits_cnn

    bucket, _, key = prefix.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", endpoint_url=os.environ.get("EDGEOPT_S3_ENDPOINT_URL") or None)
    with tempfile.TemporaryDirectory() as tmp:
        data = digits_dataset()
        save_dataset(Path(tmp) / "digits.npz", data)
        train_digits_cnn(data, epochs=15).save(Path(tmp) / "digits_cnn.keras")
        for name in ("digits.npz", "digits_cnn.keras"):
            s3.upload_file(str(Path(tmp) / name), bucket, f"{key.strip('/')}/{name}")
            print(f"uploaded s3://{bucket}/{key.strip('/')}/{name}")


if __name__ == "__main__":
    main(sys.argv[1])
