"""Train a k-nearest-neighbours classifier on the digits files (the classic Azure ML v1
walkthrough's train.py): try k = 1, 1 + kinterval, ... up to kmax, log each k's accuracy,
keep the best model.

    python train.py --data-folder data --kmax 5 --kinterval 2
"""

import argparse
import os

import joblib
import numpy as np
from azureml.core import Run
from sklearn.neighbors import KNeighborsClassifier

parser = argparse.ArgumentParser()
parser.add_argument(
    "--data-folder", type=str, dest="data_folder", help="data folder mounting point"
)
parser.add_argument("--kmax", type=int, dest="kmax", default=15, help="largest k to try")
parser.add_argument("--kinterval", type=int, dest="kinterval", default=2, help="step between ks")
args = parser.parse_args()

data_folder = os.path.join(args.data_folder, "digits")
print("Data folder:", data_folder)
X_train = np.load(os.path.join(data_folder, "train-images.npy")) / 16.0
y_train = np.load(os.path.join(data_folder, "train-labels.npy"))
X_test = np.load(os.path.join(data_folder, "test-images.npy")) / 16.0
y_test = np.load(os.path.join(data_folder, "test-labels.npy"))
print(X_train.shape, y_train.shape, X_test.shape, y_test.shape, sep="\n")

# get hold of the current run
run = Run.get_context()

best_k, best_acc, best_model = None, -1.0, None
for k in range(1, args.kmax + 1, args.kinterval):
    clf = KNeighborsClassifier(n_neighbors=k).fit(X_train, y_train)
    acc = np.average(clf.predict(X_test) == y_test)
    print(f"k={k} accuracy={acc:.4f}")
    run.log("k", k)
    run.log("k_accuracy", float(acc))
    if acc > best_acc:
        best_k, best_acc, best_model = k, acc, clf

run.log("Best_k", best_k)
run.log("accuracy", float(best_acc))

os.makedirs("outputs", exist_ok=True)
# files saved in the "outputs" folder are uploaded into the run's record automatically
joblib.dump(value=best_model, filename="outputs/digits_knn_model.pkl")
