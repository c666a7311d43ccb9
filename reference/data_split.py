"""测试集 Split a dataset into a training set and a test set.

Draw a random index into a copy of the dataset with ``randrange`` and move
that item to the training list with ``pop``, until the training list holds
at least ``train * len(dataset)`` items; what is left of the copy is the test
set.  The caller's dataset is not modified.
"""
from random import seed  # 用于固定每次生成的随机数都是确定的(伪随机数)
from random import randrange  # 用于生成随机数


def train_test_split(dataset, train=0.6):
    """
    该函数用于划分训练集和测试集

    Parameters
    ----------
    dataset : 二维列表 (a list of samples, of any type)
        传入需要划分成训练集和测试集的数据集.
    train : 浮点数
        传入训练集占整个数据集的比例.默认是0.6.

    Returns
    -------
    train_basket : 二维列表
        划分好的训练集.
    dataset_copy : 二维列表
        划分好的测试集.
    """
    # 创建一个空列表用于存放后面划分好的训练集
    train_basket = list()
    # 根据输入的训练集的比例计算出训练集的大小(样本数量)
    train_size = train * len(dataset)
    # 复制出一个新的数据集来做切分,从而不改变原始的数据集
    dataset_copy = list(dataset)
    # 执行循环判断,如果训练集的大小小于所占的比例,就一直往训练集里添加数据
    while len(train_basket) < train_size:
        # ********** Begin **********
        # 通过randrange()函数随机产生训练集的索引
        random_choose = randrange(len(dataset_copy))
        # ********** End **********
        # ********** Begin **********
        # 根据上面生成的训练集的索引将数据集中的样本加到train_basket中,
        # 注意pop函数会根据索引将数据集中的样本给移除,所以循环结束之后剩下的样本就是测试集
        train_basket.append(dataset_copy.pop(random_choose))
        # ********** End **********
    return train_basket, dataset_copy


if __name__ == '__main__':
    # 定义一个随机种子,使得每次生成的随机数都是确定的(伪随机数)
    seed(666)
    dataset = [[1], [2], [3], [4], [5], [6], [7], [8], [9], [10]]
    train_data, test_data = train_test_split(dataset, train=0.8)
    print("划分后的训练集数据为:", train_data, "划分后的测试集数据为:", test_data)
